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


def old_index(path: Path, revision: str) -> None:
    """An index file as an older labdeck left it: the schema at ``revision`` (Alembic's
    own upgrade) holding one finished run, 'old run', with param lr = 0.1."""
    import sqlite3

    from labdeck.db.engine import make_engine
    from labdeck.db.migrate import current_revision, upgrade_to

    engine = make_engine(path)
    upgrade_to(engine, revision)
    assert current_revision(engine) == revision
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO projects (id, path, name, added_at) VALUES (1, '/p', 'p', 5)")
        conn.execute("INSERT INTO sources (id, project_id, format, path, fingerprint, cursor, indexed_at) "
                     "VALUES (1, 1, 'labdeck', 'r', 'fp', '{}', 0)")
        conn.execute("INSERT INTO runs (pk, uid, project_id, source_pk, format, source_id, experiment, name, status, "
                     "deleted, path, updated_at) VALUES (1, 'abc', 1, 1, 'labdeck', 'run-1', '', 'old run', "
                     "'finished', 0, 'r', 0)")
        conn.execute("INSERT INTO params (run_pk, key, value, value_num) VALUES (1, 'lr', '0.1', 0.1)")
    conn.close()
