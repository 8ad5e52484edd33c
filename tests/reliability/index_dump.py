"""What an index holds, as plain data: to compare an index that lived through kills, quits and
concurrent writers with a clean one built from the same files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from labdeck.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


def dump(index: Path) -> dict:
    """{(project, format, source path, source_id): run facts and every point} of runs present."""
    ws = Workspace(index)
    try:
        out = {}
        for run in ws.runs(include_deleted=True):
            if getattr(run, "gone", False):
                continue
            series = ws.series(run.id)
            out[(run.format, run.path, run.source_id)] = {
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "params": dict(run.params),
                "tags": dict(run.tags),
                "series": {
                    key: (s.steps.tolist(), _floats(s.values), _floats(s.walls)) for key, s in series.items()
                },
            }
        return out
    finally:
        ws.close()


def _floats(a: np.ndarray) -> list:
    return ["nan" if np.isnan(x) else float(x) for x in a]


def integrity(index: Path) -> str:
    with sqlite3.connect(index) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def cli(*args: str, index: Path, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """The real ``labdeck`` command in a fresh process."""
    env = {**os.environ, "LABDECK_INDEX": str(index)}
    done = subprocess.run(
        [sys.executable, "-m", "labdeck", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(f"labdeck {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def popen(*args: str, index: Path, env_extra: dict | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, **(env_extra or {}), "LABDECK_INDEX": str(index)}
    return subprocess.Popen([sys.executable, "-m", "labdeck", *args], env=env, **kw)
