#!/usr/bin/env python3
"""How long a `labdeck` verb makes its user wait, process to process, against a floor.

    .venv/bin/python scripts/bench_cli.py               # 1,000 native runs, median of 7
    .venv/bin/python scripts/bench_cli.py --runs 200 --repeat 5

The yardstick is `python -c "import sqlalchemy"` with the same interpreter (issue 17 named it
the floor: the verbs once all imported SQLAlchemy; the listing verbs now read in plain SQL and
start below it). Each verb is timed from spawning
`python -m labdeck …` to its exit, alternating with the floor so both see the same load, on an
index of N runs (each with 5 metrics of 50 steps) and two datasets. Aim: each verb under 1.5×
the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench_bytecode import compile_labdeck

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

VERBS = {
    "labdeck --version": ["--version"],
    "labdeck runs --json": ["runs", "--json"],
    "labdeck dataset list": ["dataset", "list"],
}
FLOOR = [sys.executable, "-c", "import sqlalchemy"]


def prepare(tmp: Path, n_runs: int) -> None:
    """An index of ``n_runs`` native runs and two small datasets, made through labdeck itself."""
    import labdeck

    project = tmp / "project"
    for i in range(n_runs):
        with labdeck.start_run(project, params={"lr": 10 ** -(i % 4), "seed": i}, name=f"run-{i}") as run:
            for step in range(50):
                run.log({f"m{k}": (i + k) / (step + 1) for k in range(5)}, step=step)
    for name in ("images", "tables"):
        data = tmp / name
        data.mkdir()
        for j in range(20):
            (data / f"f{j}.csv").write_text(f"a,b\n{j},{j * 2}\n")
    labdeck_cli = [sys.executable, "-m", "labdeck"]
    subprocess.run([*labdeck_cli, "add", str(project)], check=True, capture_output=True)
    for name in ("images", "tables"):
        subprocess.run([*labdeck_cli, "dataset", "add", name, str(tmp / name)], check=True, capture_output=True)


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="labdeck-bench-cli-"))
    os.environ["LABDECK_HOME"] = str(tmp / "home")
    os.environ["LABDECK_INDEX"] = str(tmp / "index.sqlite")
    env_app = str(Path(__file__).resolve().parents[1] / "app")
    os.environ["PYTHONPATH"] = env_app + os.pathsep + os.environ.get("PYTHONPATH", "")
    compile_labdeck()
    try:
        prepare(tmp, args.runs)
        for argv in VERBS.values():  # warm the file cache and bytecode once
            wall([sys.executable, "-m", "labdeck", *argv])
        times: dict[str, list[float]] = {name: [] for name in VERBS}
        floor: list[float] = []
        for _ in range(args.repeat):
            for name, argv in VERBS.items():
                floor.append(wall(FLOOR))
                times[name].append(wall([sys.executable, "-m", "labdeck", *argv]))
        base = statistics.median(floor)
        print(f"process to process, median of {args.repeat}, index of {args.runs} runs; "
              f"floor `python -c \"import sqlalchemy\"` {base * 1000:.0f} ms")
        for name, samples in times.items():
            t = statistics.median(samples)
            print(f"  {name:<22} {t * 1000:6.0f} ms   {t / base:4.2f}× the floor   (aim < 1.5×)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
