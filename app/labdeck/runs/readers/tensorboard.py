"""TensorBoard event files: every directory that directly holds ``*tfevents*`` files is a run.

What is read matches TensorBoard's ``EventAccumulator`` with no sampling: the directory's event
files in file-name order, every scalar point (``simple_value`` and tensors of the "scalars"
plugin), the hparams plugin's session-start values as params, ``SessionLog.START`` purging
earlier points with step >= its step, a file's records read up to the first one that fails its
CRC or is incomplete. The cursor holds each file's byte offset, so a run still being written
is continued from where the last read stopped.

Record framing and CRCs are walked in ``_tb_records``, events decoded in ``_tb_decode``.

Event files have no end marker: the run is "running" while an event file was written within the
quiet period, else "finished" (``_liveness``). Start and end are the first and last wall times.
Names: a Lightning TensorBoardLogger folder (``hparams.yaml`` beside the events) is named as
the Lightning reader names it, ``<name>/<version>`` with the folders above; a Hugging Face
Trainer's run (an ``args`` text summary) by its ``run_name``, else its output folder; its
TrainingArguments and model config become params (``_hf_args``). Lightning's ``hparams.yaml``
gives the params their written types (the hparams plugin holds every number as a double).
Such a run is linked to the other source of its training as its parent (``_twins``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from labdeck.db.run_links import parent_in_format
from labdeck.runs.readers import _hf_args, _liveness, _twins
from labdeck.runs.readers._hparams_yaml import HPARAMS, _read_hparams
from labdeck.runs.readers._liveness import mtimes, quiet_mark, tfevents_start_s
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
        files = [source.path / n for n in names]
        return "\n".join(names) + "\n" + stat_fingerprint(files + [source.path / HPARAMS]) + "|" + quiet_mark(files, lambda: names)

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
            return ReadResult(runs=[], cursor=self._cursor(run, offsets, state), complete=True)
        cursor = self._cursor(run, offsets, state)
        record = self._record(source, run, names, cursor)
        cursor["max_step"] = run.emitted_max  # _record counts what it hands over
        return ReadResult(runs=[record], cursor=cursor, complete=fresh)

    def _record(self, source: SourceRef, run: RunState, names: list[str], cursor: dict[str, Any]) -> RunRecord:
        rel = source.rel
        files = [source.path / n for n in names]
        written = mtimes(files)
        live = _liveness.is_live(max(written, default=None), lambda: names)
        meta: dict[str, Any] = {"path": rel, "status": "running" if live else "finished"}
        meta.update(_names(source, run, cursor))
        parent = _parent(source, cursor)
        if parent is not None:
            meta["parent_source_id"] = parent
        if run.new_start is not None:
            meta["start_time"] = run.new_start
        elif cursor.get("start") is None:
            # No event with a wall time yet: the creation time in the file's name, else its mtime.
            starts = [t for t in (tfevents_start_s(n) for n in names) if t is not None] or written
            if starts:
                meta["start_time"] = int(min(starts) * 1000)
        points = {}
        for tag, (steps, values, walls) in run.series.items():
            if steps:
                with np.errstate(over="ignore"):  # a garbage wall time becomes inf, not noise
                    wall_ms = np.frombuffer(walls, dtype=np.float64) * 1000.0
                step_arr = np.frombuffer(steps, dtype=np.int64)
                points[tag] = Points(step_arr, np.frombuffer(values, dtype=np.float64), wall_ms)
                top = int(step_arr.max())
                run.emitted_max = top if run.emitted_max is None else max(run.emitted_max, top)
                finite = wall_ms[np.isfinite(wall_ms)]
                if len(finite):
                    last = float(finite.max())
                    cursor["end"] = max(cursor.get("end") or last, last)
        end = cursor.get("end") or (int(max(written) * 1000) if written else None)
        if end is not None:
            meta["end_time"] = int(end)
        record = RunRecord(
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
        _typed_params(source, run, record, cursor)
        return record

    @staticmethod
    def _cursor(run: RunState, offsets: dict[str, int], prev: dict[str, Any] | None) -> dict[str, Any]:
        kept: dict[str, Any] = {k: prev[k] for k in ("end", "hf", "hparams") if prev and k in prev}
        return {
            "version": CURSOR_VERSION,
            "files": offsets,
            "file_version": run.file_version,
            "plugins": run.plugins,
            "max_step": run.emitted_max,
            "start": run.start,
            **kept,
        }


def _names(source: SourceRef, run: RunState, cursor: dict[str, Any]) -> dict[str, str]:
    """experiment and name, as the tool that wrote the run names it (see the module doc)."""
    rel = source.rel
    args = _hf_args.json_object(run.texts.get(_hf_args.ARGS_TAG))
    if args is not None:
        output = source.path.parent.parent  # <output_dir>/runs/<time>_<host>
        output_rel = rel.rsplit("/", 2)[0] if rel.count("/") >= 2 else ""
        cursor["hf"] = {
            "name": _hf_args.run_name(args) or output.name,
            "experiment": output_rel.rpartition("/")[0],
        }
    if isinstance(cursor.get("hf"), dict):
        return {"name": str(cursor["hf"].get("name")), "experiment": str(cursor["hf"].get("experiment"))}
    if (source.path / HPARAMS).is_file():  # Lightning's TensorBoardLogger: <save_dir>/<name>/<version>
        return {"name": rel or source.path.name, "experiment": source.path.parent.name}
    return {"name": source.path.name, "experiment": rel.rpartition("/")[0]}


def _parent(source: SourceRef, cursor: dict[str, Any]) -> str | None:
    """The other source of the same training, when there is one (``_twins``): an HF output
    folder's run, or a Lightning CSVLogger version of the same name and version."""
    if isinstance(cursor.get("hf"), dict):
        return parent_in_format("hf-trainer", _twins.hf_output_rel(source.rel))
    if (source.path / HPARAMS).is_file():
        twin = _twins.csv_twin(source.path, source.rel)
        return parent_in_format("lightning", twin) if twin is not None else None
    return None


def _typed_params(source: SourceRef, run: RunState, record: RunRecord, cursor: dict[str, Any]) -> None:
    """Params with the types the tool wrote: Lightning's hparams.yaml over the hparams plugin's
    doubles, a Trainer's TrainingArguments and model config from their JSON text summaries."""
    args = _hf_args.json_object(run.texts.get(_hf_args.ARGS_TAG))
    if args is not None:
        record.params.update(_hf_args.training_params(args))
    config = _hf_args.json_object(run.texts.get(_hf_args.MODEL_TAG))
    if config is not None:
        record.params.update(_hf_args.model_params(config))
    if (source.path / HPARAMS).is_file() or "hparams" in cursor:
        rel = f"{source.rel}/{HPARAMS}" if source.rel else HPARAMS
        yaml_record = RunRecord(source_id=record.source_id)
        _read_hparams(source.path, rel, cursor.get("hparams"), run.fresh, yaml_record, cursor)
        if yaml_record.params:
            record.params = {**record.params, **yaml_record.params}
            record.replace_params = run.fresh
        record.warnings.extend(yaml_record.warnings)


READER = TensorBoardReader()
