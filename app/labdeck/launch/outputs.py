"""Runs that other loggers wrote during a job, kept with the job's run.

A job runs in a throw-away clone, so TensorBoard event files, an ``mlflow.db`` or Lightning
logs written relative to its working folder would vanish with it. When the command ends,
every run the readers find there that was written during the job is copied into
``<job run>/outputs/`` (same relative path), where the indexer finds it, and the job's run
lists them (tag ``labdeck.outputs``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labdeck.runs import native_format as fmt
from labdeck.runs.readers import all_readers
from labdeck.runs.walk import walk_project

# An mlflow.db keeps its artifacts (and uncheckpointed WAL pages) beside it.
_SIDECARS = ("-wal", "-shm")
_MLFLOW_ARTIFACTS = "mlruns"


def _newest_mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    newest = 0.0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
            except OSError:
                continue
    return newest


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True)
    else:
        shutil.copy2(src, dest)


def collect_outputs(work_dir: Path, run_dir: Path, *, since: float) -> list[dict[str, str]]:
    """Copy the runs written in ``work_dir`` since ``since`` (epoch seconds) into the run's
    ``outputs/``; returns ``{"format", "path"}`` for each, the path relative to ``run_dir``."""
    readers = tuple(r for r in all_readers() if r.format != "labdeck")  # the job's own run lives elsewhere
    found = walk_project(work_dir, readers)
    outputs = run_dir / fmt.OUTPUTS_FOLDER
    collected = []
    for reader, source in found.sources:
        if _newest_mtime(source.path) < since:
            continue  # committed with the code, not written by this job
        rel = source.rel or source.path.name
        _copy(source.path, outputs / rel)
        if source.path.is_file():
            for suffix in _SIDECARS:
                side = source.path.with_name(source.path.name + suffix)
                if side.exists():
                    _copy(side, outputs / (rel + suffix))
            artifacts = source.path.parent / _MLFLOW_ARTIFACTS
            if reader.format == "mlflow" and artifacts.is_dir():
                _copy(artifacts, outputs / Path(rel).parent / _MLFLOW_ARTIFACTS)
        collected.append({"format": reader.format, "path": f"{fmt.OUTPUTS_FOLDER}/{rel}"})
    return collected
