"""Finding the other source of one training, for a parent link (``labdeck.db.run_links``).

- A Hugging Face Trainer's TensorBoard run lies at ``<output_dir>/runs/<time>_<host>``: its
  parent is the output folder's ``hf-trainer`` run.
- Lightning's TensorBoardLogger and CSVLogger of one training write ``<save_dir>/<name>/<version>``
  each, with the same name and version and often different save dirs (``tb_logs/live/version_0``
  and ``live/version_0``): the TensorBoard version's parent is the CSV version, looked for in the
  same folder, then under each folder above it and their direct sub-folders. The other way
  round, the CSV version borrows its start time from the twin's event file names.
- Both loggers given one save dir and name (``[CSVLogger("logs"), TensorBoardLogger("logs")]``)
  each take the next free version, so one training writes two consecutive versions, one with
  ``metrics.csv``, the other with the event file (``version_0`` and ``version_1``; the next
  training ``version_2`` and ``version_3``). A version's twin is then the neighbour (one below
  or above) that holds the other logger's files alone and the same ``hparams.yaml`` (both
  loggers write it), that was still being written when the TensorBoard one began, and whose
  last write is the nearer to this one's: the two loggers of a training stop together, while
  the other neighbour's training ran before or after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from labdeck.runs.readers._liveness import tfevents_start_s

METRICS = "metrics.csv"
HPARAMS = "hparams.yaml"
_VERSION = re.compile(r"version_(\d+)")
_OVERLAP_SLACK_S = 2.0  # event file names hold whole seconds
_MAX_SIBLINGS = 64  # sub-folders looked into per level: a huge folder is not searched


def hf_output_rel(rel: str) -> str:
    """The output folder of a Trainer's TensorBoard run at ``rel`` (``<output>/runs/<x>``)."""
    parts = rel.split("/")
    return "/".join(parts[:-2])


def csv_twin(path: Path, rel: str) -> str | None:
    """The project-relative CSVLogger version folder of the Lightning TensorBoard run at ``rel``."""
    if (path / METRICS).is_file():
        return rel  # both loggers in one folder
    found = _twin(path, rel, lambda folder: (folder / METRICS).is_file())
    if found is None and (twin := _neighbour_version(path, want_csv=True)) is not None:
        found = "/".join([*rel.split("/")[:-1], twin.name])
    return found


def event_files_of_twin(path: Path, rel: str) -> list[str]:
    """Event file names of the TensorBoardLogger version twin of the CSVLogger version at ``rel``
    (their names carry the training's start time, which metrics.csv does not record)."""
    found: list[str] = []

    def has_events(folder: Path) -> bool:
        found[:] = _event_names(folder)
        return bool(found)

    if has_events(path):
        return found
    if _twin(path, rel, has_events) is not None:
        return found
    twin = _neighbour_version(path, want_csv=False)
    return _event_names(twin) if twin is not None else []


def _neighbour_version(path: Path, *, want_csv: bool) -> Path | None:
    """The consecutive version the other logger of the same training wrote beside ``path``
    (both loggers in one save dir; see the module's notes), or None."""
    match = _VERSION.fullmatch(path.name)
    if match is None:
        return None
    mine = _hparams(path)
    own_events = _event_names(path) if want_csv else []  # this is the TensorBoard version
    best: tuple[float, Path] | None = None
    for n in (int(match.group(1)) - 1, int(match.group(1)) + 1):
        other = path.with_name(f"version_{n}")
        events = _event_names(other)
        has_csv = (other / METRICS).is_file()
        if (has_csv, bool(events)) != (want_csv, not want_csv) or _hparams(other) != mine:
            continue
        csv_dir, tb_dir = (other, path) if want_csv else (path, other)
        tb_names = own_events if want_csv else events
        csv_end = _mtime(csv_dir / METRICS)
        tb_end = max((_mtime(tb_dir / name) or 0.0 for name in tb_names), default=None)
        starts = [s for s in (tfevents_start_s(name) for name in tb_names) if s is not None]
        if csv_end is None or not tb_end or not starts or min(starts) > csv_end + _OVERLAP_SLACK_S:
            continue  # the CSV version had stopped before the TensorBoard one began
        gap = abs(csv_end - tb_end)
        if best is None or gap < best[0]:
            best = (gap, other)
    return best[1] if best else None


def _hparams(folder: Path) -> bytes | None:
    try:
        return (folder / HPARAMS).read_bytes()
    except OSError:
        return None


def _mtime(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


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
