#!/usr/bin/env python3
"""Time from `labdeck launch` to the command's first line of output.

    scripts/bench_launch.py [--repeat N] [--lock "numpy==2.1.0 …"] [--cluster slurm|ray …]

Three cases: `--env current`; `--env locked` with a cold environment cache (the job's venv is
built by uv; uv's own download cache is left as it is, so "cold" means labdeck's cache, not
the network); `--env locked` with a warm cache (the venv is reused). Each launch is a
`python -m labdeck launch` process, as a user would type it; the clock stops when the first
line appears in the run's stdout.log. Everything goes into a temporary LABDECK_HOME.

``--cluster slurm`` / ``--cluster ray`` (engines up: ``scripts/cluster up slurm|ray``) times
submit → running and submit → first log line through ``labdeck launch --executor``, against
the same command submitted by hand (``sbatch`` of a one-line script; ``ray job submit`` with the
same working_dir), alternating, in one run, and prints the ratio.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench_bytecode import compile_labdeck

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


RAY = Path(__file__).resolve().parents[1] / ".venv-ray" / "bin" / "ray"
RAY_ADDRESS = "http://127.0.0.1:8265"


def _until(check, limit_s: float = 120.0) -> float:
    t_end = time.perf_counter() + limit_s
    while time.perf_counter() < t_end:
        if check():
            return time.perf_counter()
        time.sleep(0.01)
    raise SystemExit("timed out waiting for the cluster")


def labdeck_on_cluster(repo: Path) -> tuple[float, float]:
    """(submit → running, submit → first line) through labdeck launch --executor bench."""
    from labdeck.launch import control
    from labdeck.workspace import Workspace

    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "labdeck", "launch", "--project", str(repo), "--executor", "bench",
                           "--json", "--", "python", "job.py"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"launch failed: {done.stderr}")
    job_id = json.loads(done.stdout)["job"]
    ws = Workspace()
    try:
        running = _until(lambda: control.job(ws, job_id).status != "queued") - t0

        def first_line() -> bool:
            run_dir = control.job(ws, job_id).run_dir
            out = Path(run_dir, "stdout.log") if run_dir else None
            return bool(out and out.exists() and b"\n" in out.read_bytes())

        line = _until(first_line) - t0
        control.wait(ws, job_id)
    finally:
        ws.close()
    return running, line


def by_hand(kind: str, repo: Path, tmp: Path) -> tuple[float, float]:
    """The same command submitted with the engine's own tool."""
    if kind == "slurm":
        out = tmp / f"hand-{time.monotonic_ns()}.out"
        script = tmp / "hand.sbatch"
        script.write_text(f"#!/bin/bash\n#SBATCH --chdir={repo}\n#SBATCH --output={out}\n"
                          f"#SBATCH --partition=debug\nexec {sys.executable} -u job.py\n")
        t0 = time.perf_counter()
        job_id = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True,
                                check=True).stdout.strip()
        running = _until(lambda: "JobState=PENDING" not in subprocess.run(
            ["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True).stdout) - t0
        line = _until(lambda: out.exists() and b"\n" in out.read_bytes()) - t0
        return running, line
    import urllib.request

    def get(path: str) -> dict:
        with urllib.request.urlopen(RAY_ADDRESS + path, timeout=10) as resp:
            return json.loads(resp.read())

    t0 = time.perf_counter()
    done = subprocess.run([str(RAY), "job", "submit", "--address", RAY_ADDRESS, "--no-wait", "--working-dir",
                           str(repo), "--", "python", "-u", "job.py"], capture_output=True, text=True, check=True)
    sub = re.search(r"raysubmit_[A-Za-z0-9]+", done.stdout + done.stderr).group(0)
    running = _until(lambda: get(f"/api/jobs/{sub}")["status"] != "PENDING") - t0
    line = _until(lambda: "\n" in get(f"/api/jobs/{sub}/logs").get("logs", "")) - t0
    return running, line


def bench_clusters(kinds: list[str], repo: Path, tmp: Path, repeat: int) -> None:
    from labdeck.launch import executors_config

    for kind in kinds:
        executors_config.add("bench", kind, {"partition": "debug"} if kind == "slurm" else {"address": RAY_ADDRESS},
                             replace=True)
        ours, hand = [], []
        for _ in range(repeat):  # alternating, so both see the same machine load
            hand.append(by_hand(kind, repo, tmp))
            ours.append(labdeck_on_cluster(repo))
        for i, what in enumerate(("submit → running", "submit → first log line")):
            a = statistics.median(t[i] for t in ours)
            b = statistics.median(t[i] for t in hand)
            print(f"  {kind:<5} {what:<24} labdeck {a:6.2f} s   by hand {b:6.2f} s   "
                  f"ratio {a / b:5.2f}   labdeck adds {a - b:+.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lock", help="the lock's lines, space-separated (default: numpy at this version)")
    parser.add_argument("--cluster", action="append", choices=("slurm", "ray"),
                        help="time submission to this engine instead (repeatable)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="labdeck-bench-launch-"))
    os.environ["LABDECK_HOME"] = str(tmp / "home")
    os.environ["LABDECK_INDEX"] = str(tmp / "index.sqlite")
    compile_labdeck()
    lock = args.lock.split() if args.lock else [f"numpy=={importlib.metadata.version('numpy')}"]
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "job.py").write_text(SCRIPT)
    (repo / "requirements.lock").write_text("\n".join(lock) + "\n")
    for a in (["init", "-q"], ["add", "."], ["-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "b"]):
        subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    if args.cluster:
        print(f"cluster submission, median of {args.repeat}; labdeck's time includes its CLI process start")
        bench_clusters(args.cluster, repo, tmp, args.repeat)
        shutil.rmtree(tmp, ignore_errors=True)
        return 0
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
