"""Helpers that write real native runs for tests."""

from __future__ import annotations

import os
from pathlib import Path

import labdeck


def make_runs(project: Path, n: int, *, steps: int, prefix: str = "run"):
    runs = []
    for i in range(n):
        with labdeck.start_run(project, name=f"{prefix}-{i}", params={"lr": 10.0 ** -(i + 1), "idx": i},
                               record_provenance=False) as run:
            for s in range(steps):
                run.log({"loss": 1.0 / (s + 1), "acc": s / steps * (i + 1)}, step=s)
        runs.append(run)
    return runs


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below ``root`` with size and mtime: to prove nothing was written."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            snap[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return snap


def detect_walk(reader, root: Path) -> tuple[dict, set[str]]:
    """What the indexer does with one reader: detect in every folder, skip what a detection
    prunes. Returns the sources found (by relative path) and the folders visited."""
    found, visited = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        rel = "" if folder == root else folder.relative_to(root).as_posix()
        visited.add(rel)
        det = reader.detect(folder, frozenset(dirnames + filenames), rel)
        if det:
            found.update({s.rel: s for s in det.sources})
            dirnames[:] = [d for d in dirnames if d not in det.prune]
    return found, visited
