#!/usr/bin/env python3
"""Benchmark labdeck's readers against the tools' own APIs on the same data, in one run.

    .venv/bin/python scripts/bench_readers.py [--runs 200 --metrics 10 --steps 1000]
        [--peer-python .venv-bench/bin/python]

The peer environment (MLflow and TensorBoard, kept apart from labdeck's; make it with
`python3 -m venv .venv-bench && .venv-bench/bin/pip install mlflow tensorboard`) writes the
runs through MLflow (SQLite store) and TensorBoard's event writer, then times
`search_runs` + `get_metric_history` for every series, and `EventAccumulator` with no
sampling. labdeck's cold index of the same folders is timed here (a fresh index each
time, median of --repeat). Prints the ratios.

labdeck serves MLflow SQLite series from the store on demand (the index keeps summaries
only), so for MLflow the time to read every point back through labdeck is printed too:
the cold index plus that is what a user who then plots every series waits for in all.
Use --data DIR to keep the written runs (and reuse them on the next call).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from labdeck.runs.readers._mlflow_sqlite_cache import CACHE as POINTS_CACHE  # noqa: E402
from labdeck.workspace import Workspace  # noqa: E402

PEER = ROOT / "scripts" / "_bench_peer.py"


def peer(python: str, *args: str) -> str:
    done = subprocess.run([python, str(PEER), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"peer tool failed: {' '.join(args)}\n{done.stderr[-2000:]}")
    return done.stdout


def labdeck_cold_index(folder: Path, scratch: Path, repeat: int) -> tuple[float, int, float, int]:
    """(median cold index s, points indexed, median s to read every point back, points read)."""
    times, reads, points, read_back = [], [], 0, 0
    for i in range(repeat):
        index = scratch / f"index-{folder.name}-{i}.sqlite"
        index.unlink(missing_ok=True)
        ws = Workspace(index)
        ws.add_project(folder)
        t = time.perf_counter()
        stats = ws.index(str(folder))
        times.append(time.perf_counter() - t)
        points = stats.points
        POINTS_CACHE.clear()  # the first read after indexing: what plotting everything costs
        t = time.perf_counter()
        read_back = every_point(ws)
        reads.append(time.perf_counter() - t)
        ws.close()
    return statistics.median(times), points, statistics.median(reads), read_back


def one_metric(folder: Path, scratch: Path, runs: int = 100, repeat: int = 5) -> tuple[float, float]:
    """(first, median of the next reads) seconds to read one metric of ``runs`` runs, as a
    chart of that metric asks for it; MLflow points come from the store, then its cache."""
    from labdeck.db import compare

    ws = Workspace(scratch / f"index-{folder.name}-0.sqlite")
    try:
        pks = ws.run_pks(include_deleted=True)[:runs]
        key = sorted(ws.known_keys()["metrics"])[0]
        POINTS_CACHE.clear()
        times = []
        for _ in range(repeat + 1):
            t = time.perf_counter()
            with ws.db.rows() as conn:
                compare.series_many(conn, pks, [key])
            times.append(time.perf_counter() - t)
    finally:
        ws.close()
    return times[0], statistics.median(times[1:])


def every_point(ws: Workspace) -> int:
    """Read every series of every run back through the index, as the compare view does."""
    from labdeck.db import compare

    pks = ws.run_pks(include_deleted=True)
    keys = ws.known_keys()["metrics"]
    with ws.db.rows() as conn:
        got = compare.series_many(conn, pks, keys)
    return sum(len(s) for per in got.values() for s in per.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=("mlflow", "tensorboard"), help="benchmark one tool only")
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--data", type=Path, help="keep the written runs here (reused when present)")
    args = ap.parse_args()
    if not Path(args.peer_python).exists():
        print(f"no peer environment at {args.peer_python}; see --help", file=sys.stderr)
        return 2

    root = Path(tempfile.mkdtemp(prefix="labdeck-bench-readers-"))
    data = args.data or root
    os.environ["LABDECK_HOME"] = str(root / "home")
    size = [str(args.runs), str(args.metrics), str(args.steps)]
    expected = args.runs * args.metrics * args.steps
    try:
        for tool in [args.only] if args.only else ("mlflow", "tensorboard"):
            folder = data / f"{tool}-{'x'.join(size)}"
            if not folder.exists():
                print(f"{tool}: writing {args.runs} runs x {args.metrics} metrics x {args.steps} steps ...", flush=True)
                t = time.perf_counter()
                peer(args.peer_python, "write", tool, str(folder), *size)
                print(f"  written in {time.perf_counter() - t:.1f} s")
            theirs = json.loads(peer(args.peer_python, "read", tool, str(folder)))
            ours, points, back, read_back = labdeck_cold_index(folder, root, args.repeat)
            api = "search_runs + get_metric_history" if tool == "mlflow" else "EventAccumulator (no sampling)"
            print(f"  {api}: {theirs['seconds']:.2f} s for {theirs['points']:,} points")
            print(f"  labdeck cold index:  {ours:.2f} s for {points:,} points (median of {args.repeat})")
            print(f"  labdeck is {theirs['seconds'] / ours:.1f}x faster")
            print(f"  labdeck reading every point back: {back:.2f} s for {read_back:,} points; "
                  f"index + read back {theirs['seconds'] / (ours + back):.1f}x faster")
            first, again = one_metric(folder, root)
            print(f"  one metric of 100 runs: {first * 1000:.0f} ms the first time, {again * 1000:.1f} ms again "
                  f"(median of 5)")
            if points != expected or read_back != expected or theirs["points"] != expected:
                print(f"  POINT COUNT MISMATCH: expected {expected:,}", file=sys.stderr)
                return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
