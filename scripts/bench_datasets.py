#!/usr/bin/env python3
"""Benchmark dataset versioning: first add, unchanged re-add, re-add after 10 edits, checkout.

    .venv/bin/python scripts/bench_datasets.py                       # 1,000 files / 30 MB
    .venv/bin/python scripts/bench_datasets.py --files 10000 --mb 300
    .venv/bin/python scripts/bench_datasets.py --files 10000 --mb 300 --dvc /tmp/dvc-venv/bin/dvc
    .venv/bin/python scripts/bench_datasets.py --files 10000 --mb 300 --pack-limit 0 --breakdown

Files (random bytes, 100 per folder) are generated in a temp dir; each repetition uses a
fresh store and index. With ``--dvc``, ``dvc add`` runs on an identical copy of the folder
(in a fresh ``dvc init --no-scm`` repository), with the same 10 edits, and the ratios are
printed, both in-process (labdeck's call) and process to process (`labdeck dataset add` as a
command, timed as `dvc add` is). Both read from a warm page cache. Reports medians. ``--pack-limit 0`` stores every
object as its own file (as before packs); ``--breakdown`` splits the first add into stages.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench_bytecode import compile_labdeck

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from labdeck.datasets import service  # noqa: E402
from labdeck.datasets.packs import PackWriter  # noqa: E402
from labdeck.datasets.service import Datasets  # noqa: E402
from labdeck.datasets.store import Store  # noqa: E402
from labdeck.db import datasets as queries  # noqa: E402
from labdeck.db.engine import Database  # noqa: E402

PER_FOLDER = 100
EDITS = 10
# The stages of an add, timed with --breakdown: (label, owner, attribute).
STAGES = [
    ("scan", service, "scan"),
    ("ingest: read, hash, store", service, "ingest"),
    ("  of which sealing packs", PackWriter, "seal"),
    ("fsync loose objects", Store, "make_durable"),
    ("version and file rows", queries, "add_version"),
    ("hash cache rows", queries, "save_hash_cache"),
]


def generate(root: Path, n_files: int, total_mb: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    size = max(1, int(total_mb * 1e6 / n_files))
    for i in range(n_files):
        d = root / f"part{i // PER_FOLDER:04}"
        if i % PER_FOLDER == 0:
            d.mkdir(parents=True, exist_ok=True)
        # +-25% sizes so files differ in length as real ones do
        n = int(size * (0.75 + 0.5 * rng.random()))
        (d / f"sample{i:06}.bin").write_bytes(rng.bytes(n))
    old = time.time_ns() - 10**10  # older than the hash cache's "racy" window
    for p in root.rglob("*.bin"):
        os.utime(p, ns=(old, old))


def edit(root: Path, n_files: int, round_: int) -> None:
    """Rewrite EDITS files spread over the folder with new content of the same length."""
    for k in range(EDITS):
        i = (k * n_files) // EDITS
        p = root / f"part{i // PER_FOLDER:04}" / f"sample{i:06}.bin"
        data = bytearray(p.read_bytes())
        data[0:8] = round_.to_bytes(8, "little")
        data[-1] = (data[-1] + 1) % 256
        tmp = p.with_name(p.name + ".new")  # saved as a new file: safe with --link too
        tmp.write_bytes(bytes(data))
        os.replace(tmp, p)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@contextlib.contextmanager
def stage_timer(into: dict[str, float]):
    """Time each STAGES function while inside (summed over calls)."""
    saved = [(owner, attr, getattr(owner, attr)) for _, owner, attr in STAGES]
    for (label, owner, attr), (_, _, fn) in zip(STAGES, saved, strict=True):
        def timed_fn(*a, _fn=fn, _label=label, **k):
            t = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                into[_label] = into.get(_label, 0.0) + time.perf_counter() - t
        setattr(owner, attr, timed_fn)
    try:
        yield
    finally:
        for owner, attr, fn in saved:
            setattr(owner, attr, fn)


def bench_labdeck(src: Path, n_files: int, tmp: Path, rep: int, link: bool, pack_limit: int | None,
                  stages: dict[str, float] | None) -> dict[str, float]:
    home = tmp / f"labdeck-{rep}"
    db = Database(home / "index.sqlite")
    store = Store(home / "datasets")
    if pack_limit is not None:
        store.pack_limit = pack_limit
    ds = Datasets(db, store)
    out = {}
    with stage_timer(stages) if stages is not None else contextlib.nullcontext():
        out["first add"] = timed(lambda: ds.add("bench", src, link=link))
    out["re-add, unchanged"] = timed(lambda: ds.add("bench", src, link=link))
    edit(src, n_files, rep + 1)
    out[f"re-add, {EDITS} edited"] = timed(lambda: ds.add("bench", src, link=link))
    dest = tmp / f"checkout-{rep}"
    out["checkout"] = timed(lambda: ds.checkout("bench", None, dest))
    assert len(ds.versions("bench")) == 2
    db.close()
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    return out


def bench_labdeck_cli(src: Path, n_files: int, tmp: Path, rep: int) -> dict[str, float]:
    """The same first add and re-add after edits as the user runs them: `labdeck dataset add`,
    process to process (interpreter start and imports included), as `dvc add` is timed."""
    home = tmp / f"labdeck-cli-{rep}"
    env = {**os.environ, "LABDECK_HOME": str(home)}
    argv = [sys.executable, "-m", "labdeck", "dataset", "add", "bench", str(src)]
    run = lambda: subprocess.run(argv, env=env, check=True, capture_output=True)  # noqa: E731
    # The index and store made first, untimed, as `dvc init` is for dvc: a first add is the
    # dataset's first version, not labdeck's first use on the machine.
    subprocess.run([sys.executable, "-m", "labdeck", "dataset", "list"], env=env, check=True, capture_output=True)
    out = {"first add": timed(run)}
    edit(src, n_files, rep + 101)
    out[f"re-add, {EDITS} edited"] = timed(run)
    shutil.rmtree(home, ignore_errors=True)
    return out


def bench_dvc(dvc: str, n_files: int, total_mb: float, tmp: Path, rep: int) -> dict[str, float]:
    repo = tmp / f"dvc-{rep}"
    repo.mkdir()
    generate(repo / "data", n_files, total_mb)
    run = lambda *a: subprocess.run([dvc, *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("init", "--no-scm")
    out = {"first add": timed(lambda: run("add", "data"))}
    edit(repo / "data", n_files, rep + 1)
    out[f"re-add, {EDITS} edited"] = timed(lambda: run("add", "data"))
    shutil.rmtree(repo, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--mb", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--link", action="store_true", help="hard-link into the store instead of copying")
    ap.add_argument("--dvc", metavar="PATH", help="a dvc executable: also time `dvc add` on the same data")
    ap.add_argument("--pack-limit", type=int, metavar="BYTES", help="pack objects up to this size (0: none)")
    ap.add_argument("--breakdown", action="store_true", help="time the stages of the first add")
    args = ap.parse_args()
    if args.dvc:
        compile_labdeck()  # `labdeck dataset add` is timed as a process: from bytecode, as installed

    with tempfile.TemporaryDirectory(prefix="labdeck-bench-datasets-") as tmp_s:
        tmp = Path(tmp_s)
        results: dict[str, list[float]] = {}
        dvc_results: dict[str, list[float]] = {}
        cli_results: dict[str, list[float]] = {}
        stage_results: dict[str, list[float]] = {}
        for rep in range(args.repeat):
            src = tmp / f"data-{rep}"
            generate(src, args.files, args.mb)
            stages: dict[str, float] | None = {} if args.breakdown else None
            for k, v in bench_labdeck(src, args.files, tmp, rep, args.link, args.pack_limit, stages).items():
                results.setdefault(k, []).append(v)
            for k, v in (stages or {}).items():
                stage_results.setdefault(k, []).append(v)
            if args.dvc:  # labdeck as a process too, on the same files
                for k, v in bench_labdeck_cli(src, args.files, tmp, rep).items():
                    cli_results.setdefault(k, []).append(v)
            shutil.rmtree(src)
            if args.dvc:
                for k, v in bench_dvc(args.dvc, args.files, args.mb, tmp, rep).items():
                    dvc_results.setdefault(k, []).append(v)
        mode = "hard links" if args.link else "copies"
        if args.pack_limit is not None and not args.link:
            mode += f", packing objects up to {args.pack_limit} bytes"
        print(f"{args.files} files, {args.mb:g} MB, {os.cpu_count()} CPUs, labdeck storing {mode}, "
              f"medians of {args.repeat}")
        for k, vs in results.items():
            line = f"  labdeck {k:<22} {statistics.median(vs):8.3f} s"
            if k in dvc_results:
                d = statistics.median(dvc_results[k])
                line += f"   dvc {d:8.3f} s   dvc/labdeck {d / statistics.median(vs):5.1f}x"
            print(line)
        for k, vs in cli_results.items():  # what the user waits for at the command line
            d = statistics.median(dvc_results[k])
            print(f"  process to process: labdeck {k:<22} {statistics.median(vs):8.3f} s   dvc {d:8.3f} s   "
                  f"dvc/labdeck {d / statistics.median(vs):5.1f}x")
        if stage_results:
            print("  first add by stage:")
            for label, _, _ in STAGES:
                if label in stage_results:
                    print(f"    {label:<28} {statistics.median(stage_results[label]):8.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
