"""Finding the other source of one training, for a parent link (``labdeck.db.run_links``).

- A Hugging Face Trainer's TensorBoard run lies at ``<output_dir>/runs/<time>_<host>``: its
  parent is the output folder's ``hf-trainer`` run.
- Lightning's TensorBoardLogger and CSVLogger of one training write ``<save_dir>/<name>/<version>``
  each, with the same name and version and often different save dirs (``tb_logs/live/version_0``
  and ``live/version_0``): the TensorBoard version's parent is the CSV version, looked for in the
  same folder, then under each folder above it and their direct sub-folders. The other way
  round, the CSV version borrows its start time from the twin's event file names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

METRICS = "metrics.csv"
_MAX_SIBLINGS = 64  # sub-folders looked into per level: a huge folder is not searched


def hf_output_rel(rel: str) -> str:
    """The output folder of a Trainer's TensorBoard run at ``rel`` (``<output>/runs/<x>``)."""
    parts = rel.split("/")
    return "/".join(parts[:-2])


def csv_twin(path: Path, rel: str) -> str | None:
    """The project-relative CSVLogger version folder of the Lightning TensorBoard run at ``rel``."""
    if (path / METRICS).is_file():
        return rel  # both loggers in one folder
    return _twin(path, rel, lambda folder: (folder / METRICS).is_file())


def event_files_of_twin(path: Path, rel: str) -> list[str]:
    """Event file names of the TensorBoardLogger version twin of the CSVLogger version at ``rel``
    (their names carry the training's start time, which metrics.csv does not record)."""
    found: list[str] = []

    def has_events(folder: Path) -> bool:
        found[:] = _event_names(folder)
        return bool(found)

    if has_events(path):
        return found
    return found if _twin(path, rel, has_events) is not None else []


def _twin(path: Path, rel: str, matches: Callable[[Path], bool]) -> str | None:
    """The nearest other ``<...>/<name>/<version>`` folder of the project that ``matches``: under
    each folder above ``rel``'s save dir, the folder itself and then its direct sub-folders."""
    parts = rel.split("/")
    if len(parts) < 2:
        return None
    project = path.parents[len(parts) - 1]
    name_version = parts[-2:]
    above = parts[:-2]
    for depth in range(len(above), -1, -1):
        base = project.joinpath(*above[:depth]) if depth else project
        for middle in [None, *_subfolders(base)]:
            folder = base.joinpath(*([middle] if middle else []), *name_version)
            if folder != path and matches(folder):
                return "/".join([*above[:depth], *([middle] if middle else []), *name_version])
    return None


def _event_names(folder: Path) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if "tfevents" in n]
    except OSError:
        return []


def _subfolders(base: Path) -> list[str]:
    try:
        with os.scandir(base) as entries:
            names = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []
    return names[:_MAX_SIBLINGS]
