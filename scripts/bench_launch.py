#!/usr/bin/env python3
"""Time from `labdeck launch` to the command's first line of output.

    scripts/bench_launch.py [--repeat N] [--lock "numpy==2.1.0 …"]

Three cases: `--env current`; `--env locked` with a cold environment cache (the job's venv is
built by uv; uv's own download cache is left as it is, so "cold" means labdeck's cache, not
the network); `--env locked` with a warm cache (the venv is reused). Each launch is a
`python -m labdeck launch` process, as a user would type it; the clock stops when the first
line appears in the run's stdout.log. Everything goes into a temporary LABDECK_HOME.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = 'print("first line", flush=True)\n'


def launch_to_first_line(repo: Path, env_kind: str) -> float:
    from labdeck.launch import control
    from labdeck.workspace import Workspace

    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "labdeck", "launch", "--project", str(repo), "--env", env_kind,
                           "--json", "--", "python", "job.py"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"launch failed: {done.stderr}")
    job_id = json.loads(done.stdout)["job"]
    ws = Workspace()
    try:
        while True:
            job = control.job(ws, job_id)
            if job.run_dir:
                out = Path(job.run_dir, "stdout.log")
                if out.exists() and b"\n" in out.read_bytes():
                    elapsed = time.perf_counter() - t0
                    break
            if job.finished:
                raise SystemExit(f"job {job_id} ended without output: {job.status} {job.message}")
            time.sleep(0.005)
        control.wait(ws, job_id)
    finally:
        ws.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lock", help="the lock's lines, space-separated (default: numpy at this version)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="labdeck-bench-launch-"))
    os.environ["LABDECK_HOME"] = str(tmp / "home")
    os.environ["LABDECK_INDEX"] = str(tmp / "index.sqlite")
    lock = args.lock.split() if args.lock else [f"numpy=={importlib.metadata.version('numpy')}"]
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "job.py").write_text(SCRIPT)
    (repo / "requirements.lock").write_text("\n".join(lock) + "\n")
    for a in (["init", "-q"], ["add", "."], ["-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "b"]):
        subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    from labdeck.launch import envs

    results: dict[str, list[float]] = {"current": [], "locked cold": [], "locked warm": []}
    for _ in range(args.repeat):
        results["current"].append(launch_to_first_line(repo, "current"))
        shutil.rmtree(envs.envs_dir(), ignore_errors=True)
        results["locked cold"].append(launch_to_first_line(repo, "locked"))
        results["locked warm"].append(launch_to_first_line(repo, "locked"))
    print(f"launch → first output line, {args.repeat} run(s) each; lock: {' '.join(lock)}")
    for name, times in results.items():
        print(f"  --env {name:<12} median {statistics.median(times):6.2f} s   "
              f"(min {min(times):.2f}, max {max(times):.2f})")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
