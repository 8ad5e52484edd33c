"""TensorBoard event files: every directory that directly holds ``*tfevents*`` files is a run.

What is read matches TensorBoard's ``EventAccumulator`` with no sampling: the directory's event
files in file-name order, every scalar point (``simple_value`` and tensors of the "scalars"
plugin), the hparams plugin's session-start values as params, ``SessionLog.START`` purging
earlier points with step >= its step, a file's records read up to the first one that fails its
CRC or is incomplete. The cursor holds each file's byte offset, so a run still being written
is continued from where the last read stopped.

Record framing and CRCs are walked in ``_tb_records``, events decoded in ``_tb_decode``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from labdeck.runs.readers._tb_decode import Restart, RunState
from labdeck.runs.readers._tb_records import read_file
from labdeck.runs.readers.base import (
    Detection,
    Points,
    Reader,
    ReadResult,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_fingerprint,
)

CURSOR_VERSION = 1


def is_event_file_name(name: str) -> bool:
    # TensorBoard's IsSummaryEventsFile: profiler placeholders hold no summaries.
    return "tfevents" in name and not name.endswith(".profile-empty")


def _event_files(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_event_file_name(e.name) and e.is_file())


def _can_go_on(offsets: dict[str, int], names: list[str], folder: Path) -> bool:
    """True when the files only grew or new ones came after the known ones (no rewrite)."""
    last_known = max(offsets, default="")
    for name in names:
        if name not in offsets and name < last_known:
            return False  # would have been read earlier: order changes
    for name, offset in offsets.items():
        try:
            if os.stat(folder / name).st_size < offset:
                return False
        except OSError:
            return False
    return True


def _valid_cursor(cursor: dict[str, Any] | None) -> bool:
    return (
        isinstance(cursor, dict)
        and cursor.get("version") == CURSOR_VERSION
        and isinstance(cursor.get("files"), dict)
        and isinstance(cursor.get("plugins"), dict)
    )


class TensorBoardReader(Reader):
    format = "tensorboard"

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        candidates = [n for n in names if is_event_file_name(n)]
        if not candidates or not any(os.path.isfile(folder / n) for n in candidates):
            return None
        return Detection(sources=[SourceRef(self.format, folder, rel)])

    def fingerprint(self, source: SourceRef) -> str:
        try:
            names = _event_files(source.path)
        except OSError:
            return "-"
        return "\n".join(names) + "\n" + stat_fingerprint([source.path / n for n in names])

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        try:
            names = _event_files(source.path)
        except OSError as exc:
            message = f"{source.rel}: cannot list the run directory ({exc.strerror or exc})"
            warning = ReadWarning("unreadable-dir", message, source.rel)
            return ReadResult(runs=[], cursor=cursor or {}, warnings=[warning])
        state = cursor if _valid_cursor(cursor) else None
        if state is not None and not _can_go_on(state.get("files", {}), names, source.path):
            state = None
        try:
            return self._read(source, names, state)
        except Restart:
            return self._read(source, names, None)

    def _read(self, source: SourceRef, names: list[str], state: dict[str, Any] | None) -> ReadResult:
        fresh = state is None
        run = RunState(state or {}, fresh)
        known: dict[str, int] = dict((state or {}).get("files", {}))
        offsets: dict[str, int] = {}
        for i, name in enumerate(names):
            run.where = f"{source.rel}/{name}" if source.rel else name
            offset = known.get(name, 0)
            try:
                offsets[name] = read_file(source.path / name, offset, run, i == len(names) - 1)
            except FileNotFoundError:
                if offset and not fresh:
                    raise Restart from None  # its points are indexed and must go
                run.warn("vanished", "deleted while being read", transient=True)
            except OSError as exc:
                offsets[name] = offset  # try again next time
                run.warn("unreadable-file", f"cannot read ({exc.strerror or exc})")
        if fresh and not offsets and not run.warnings:
            return ReadResult(runs=[], cursor=self._cursor(run, offsets), complete=True)
        record = self._record(source, run)
        return ReadResult(runs=[record], cursor=self._cursor(run, offsets), complete=fresh)

    def _record(self, source: SourceRef, run: RunState) -> RunRecord:
        rel = source.rel
        meta: dict[str, Any] = {
            "experiment": rel.rpartition("/")[0],
            "name": source.path.name,
            "path": rel,
            "status": "unknown",  # event files say nothing about how a run ended
        }
        if run.new_start is not None:
            meta["start_time"] = run.new_start
        points = {}
        for tag, (steps, values, walls) in run.series.items():
            if steps:
                with np.errstate(over="ignore"):  # a garbage wall time becomes inf, not noise
                    wall_ms = np.frombuffer(walls, dtype=np.float64) * 1000.0
                step_arr = np.frombuffer(steps, dtype=np.int64)
                points[tag] = Points(step_arr, np.frombuffer(values, dtype=np.float64), wall_ms)
                top = int(step_arr.max())
                run.emitted_max = top if run.emitted_max is None else max(run.emitted_max, top)
        return RunRecord(
            source_id=rel or ".",
            meta=meta,
            params=run.params,
            tags=run.tags,
            points=points,
            replace_params=run.fresh,
            replace_tags=run.fresh,
            replace_series=run.fresh,
            warnings=run.warnings,
        )

    @staticmethod
    def _cursor(run: RunState, offsets: dict[str, int]) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "files": offsets,
            "file_version": run.file_version,
            "plugins": run.plugins,
            "max_step": run.emitted_max,
            "start": run.start,
        }


READER = TensorBoardReader()
