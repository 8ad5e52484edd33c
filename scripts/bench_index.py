#!/usr/bin/env python3
"""Benchmark the index: cold index, unchanged rescan, append-to-index latency, series read-back.

    .venv/bin/python scripts/bench_index.py                 # 1,000 runs x 10 metrics x 1,000 steps
    .venv/bin/python scripts/bench_index.py --rescan-runs 10000
    .venv/bin/python scripts/bench_index.py --runs 100000 --steps 100   # scale: 100 M points

Runs are written in labdeck's native format (the SDK creates each run; the points of a run
are appended in bulk in exactly the SDK's line format, which keeps writing the data set
fast). It also measures the alternative series layout (one SQLite row per point) on the
same points, which is why series are stored as packed chunks. Reports medians, the time of
each phase, the index's size and the process's peak memory after writing and after the cold
index (the index phase holds one batch of sources at a time, never every point: its peak must
not grow with the number of runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

import labdeck  # noqa: E402
from labdeck.runs import native_format as fmt  # noqa: E402
from labdeck.runs.watcher import Watcher  # noqa: E402
from labdeck.workspace import Workspace  # noqa: E402


def write_runs(project: Path, n_runs: int, n_metrics: int, n_steps: int) -> list:
    rng = np.random.default_rng(0)
    steps = np.arange(n_steps)
    keys = [f"metric_{k}" for k in range(n_metrics)]
    runs = []
    for i in range(n_runs):
        run = labdeck.start_run(project, name=f"run-{i}", params={"lr": float(rng.uniform(1e-4, 1e-1)), "i": i},
                                record_provenance=False)
        wall = int(time.time() * 1000)
        lines = []
        values = rng.normal(size=(n_steps, n_metrics)).cumsum(axis=0).tolist()
        for s in steps:
            row = values[s]
            lines.append("".join(f"{k},{s},{row[j]!r},{wall + s}\n" for j, k in enumerate(keys)))
        with open(run.dir / fmt.METRICS_FILE, "a", encoding="utf-8") as f:
            f.write("".join(lines))
        run.end()
        runs.append(run)
    return runs


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def append_latency(ws: Workspace, project: Path, samples: int = 10) -> list[float]:
    run = labdeck.start_run(project, name="live", record_provenance=False)
    run.log({"x": 0.0}, step=0)
    ws.index(str(project))
    watcher = Watcher(ws.db)
    watcher.start()
    latencies = []
    try:
        for i in range(1, samples + 1):
            time.sleep(0.2)
            t = time.perf_counter()
            run.log({"x": float(i)}, step=i)
            while True:
                m = ws.run(run.id).metrics.get("x")
                if m is not None and m.count == i + 1:
                    break
                if time.perf_counter() - t > 10:
                    raise RuntimeError("point never reached the index")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - t)
    finally:
        watcher.stop()
        run.end()
    return latencies


def row_per_point_layout(ws: Workspace, run_ids: list[str]) -> tuple[float, float, int]:
    """The alternative: one SQLite row per point. Returns (write s, read-100-runs s, points)."""
    path = Path(tempfile.mkdtemp()) / "rows.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE points (run INTEGER, key TEXT, step INTEGER, value REAL, wall REAL, "
                 "PRIMARY KEY (run, key, step, wall)) WITHOUT ROWID")
    total = 0
    t = time.perf_counter()
    for i, rid in enumerate(run_ids):
        rows = []
        for key, s in ws.series(rid).items():
            rows.extend(zip([i] * len(s), [key] * len(s), s.steps.tolist(), s.values.tolist(), s.walls.tolist()))
        total += len(rows)
        conn.executemany("INSERT INTO points VALUES (?,?,?,?,?)", rows)
    conn.commit()
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(min(100, len(run_ids))):
        cur = conn.execute("SELECT key, step, value, wall FROM points WHERE run = ? ORDER BY key, step", (i,))
        data = cur.fetchall()
        np.array([d[1] for d in data]), np.array([d[2] for d in data])
    read_s = time.perf_counter() - t
    conn.close()
    shutil.rmtree(path.parent)
    return write_s, read_s, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--metrics", type=int, default=10)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--rescan-runs", type=int, default=0, help="also time an unchanged rescan of this many small runs")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="labdeck-bench-"))
    os.environ["LABDECK_HOME"] = str(root / "home")
    project = root / "project"
    print(f"writing {args.runs} runs x {args.metrics} metrics x {args.steps} steps into {project} ...", flush=True)
    t = time.perf_counter()
    runs = write_runs(project, args.runs, args.metrics, args.steps)
    print(f"  written in {time.perf_counter() - t:.1f} s", flush=True)
    points = args.runs * args.metrics * args.steps

    peak_written = _peak_rss_mb()
    ws = Workspace(root / "index.sqlite")
    ws.add_project(project)
    cold_s, stats = timed(lambda: ws.index(str(project)))
    assert stats.points == points, (stats.points, points)
    print(f"cold index:        {cold_s:.2f} s  ({points / cold_s / 1e6:.2f} M points/s, {points:,} points)")
    size = sum(f.stat().st_size for f in root.glob("index.sqlite*"))
    print(f"index size:        {size / 1e6:,.0f} MB ({size / points:.1f} bytes a point)")
    print(f"peak memory:       {peak_written:,.0f} MB after writing the runs, {_peak_rss_mb():,.0f} MB after "
          "the cold index (process high-water mark)")
    rescan_s, stats = timed(lambda: ws.index(str(project)), repeat=5)
    assert stats.read == 0
    print(f"unchanged rescan:  {rescan_s * 1000:.0f} ms for {args.runs} runs (median of 5)")

    ids = [r.id for r in runs[:100]]
    read_s, _ = timed(lambda: [ws.series(rid) for rid in ids], repeat=5)
    print(f"read all series of 100 runs: {read_s * 1000:.0f} ms (median of 5; "
          f"{100 * args.metrics * args.steps:,} points)")

    lat = append_latency(ws, project)
    print(f"append -> index:   median {statistics.median(lat) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
          f"(file-system events, {len(lat)} samples)")

    write_rows, read_rows, n = row_per_point_layout(ws, [r.id for r in runs[: min(len(runs), 200)]])
    print(f"row-per-point layout for comparison: write {n / write_rows / 1e6:.2f} M points/s, "
          f"read 100 runs {read_rows * 1000:.0f} ms (x{read_rows / read_s:.1f} slower than chunks)")

    if args.rescan_runs:
        big = root / "many"
        print(f"writing {args.rescan_runs} small runs ...", flush=True)
        write_runs(big, args.rescan_runs, 2, 10)
        ws.add_project(big)
        cold, _ = timed(lambda: ws.index(str(big)))
        rescan, stats = timed(lambda: ws.index(str(big)), repeat=5)
        assert stats.read == 0
        print(f"{args.rescan_runs} runs: cold {cold:.1f} s, unchanged rescan {rescan * 1000:.0f} ms (median of 5)")

    ws.close()
    if not args.keep:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
