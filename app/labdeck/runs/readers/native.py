"""Reader for labdeck's own run folders (see ``labdeck.runs.native_format``)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from labdeck.runs import native_format as fmt
from labdeck.runs.readers._arrow_numpy import column_array
from labdeck.runs.readers._io import short
from labdeck.runs.readers._points_by_key import split_by_codes
from labdeck.runs.readers._json_salvage import salvage_fields
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

_CSV_TYPES = {"key": pa.dictionary(pa.int32(), pa.string()), "step": pa.int64(), "value": pa.float64(), "wall_ms": pa.float64()}
_CONVERT = pacsv.ConvertOptions(column_types=_CSV_TYPES, null_values=[], strings_can_be_null=False)
_PARSE = pacsv.ParseOptions(newlines_in_values=False)
# Below this size plain Python parses faster than pyarrow can set up (measured: ~2 ms per call).
ARROW_MIN_BYTES = 16 * 1024
# Bad lines reported one by one up to this many per read; the rest are counted.
MAX_LINE_WARNINGS = 5


_OUTPUTS = frozenset({fmt.OUTPUTS_FOLDER})


class NativeReader(Reader):
    format = "labdeck"
    detects_by_names = True

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        if fmt.META_FILE not in names:
            return None
        # Artifacts are copies, not runs; outputs/ may hold other tools' runs of a launched job.
        return Detection(sources=[SourceRef(self.format, folder, rel, names)], only=_OUTPUTS, exclusive=True)

    def fingerprint(self, source: SourceRef) -> str:
        d = os.fspath(source.path)  # plain strings: this runs for every run on every pass
        print_ = stat_fingerprint([f"{d}/{fmt.META_FILE}", f"{d}/{fmt.METRICS_FILE}", f"{d}/{fmt.EVENTS_FILE}"])
        # A live run's lock matters too: the run turns "killed" when its process disappears.
        # Most runs are over and have none; the walk's listing says so without a failed open.
        # (A lock made since the listing shows in the next pass's fingerprint.)
        if source.names is not None and fmt.LOCK_FILE not in source.names:
            return print_ + "|unlocked"
        try:
            with open(f"{d}/{fmt.LOCK_FILE}", encoding="utf-8") as f:
                lock = f.read()
        except OSError:
            return print_ + "|unlocked"
        return print_ + ("|dead" if fmt.lock_is_stale(lock) else "|live")

    def reads_aside(self, source: SourceRef) -> bool:
        """Nothing is kept between reads; but only a metrics file that pyarrow parses (without
        Python's lock) gains from a worker: a small one is parsed in Python, which holds the
        lock, and on a worker only adds hand-offs of it."""
        try:
            return os.stat(f"{os.fspath(source.path)}/{fmt.METRICS_FILE}").st_size >= ARROW_MIN_BYTES
        except OSError:
            return False

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        fresh = cursor is None
        cursor = dict(cursor or {})
        d = source.path
        warnings: list[ReadWarning] = []
        record = RunRecord(source_id=cursor.get("id", ""))
        if fresh or not cursor.get("id"):
            meta_ok = self._read_meta(d, source, record, warnings)
            if not meta_ok:
                return ReadResult(runs=[], cursor={}, warnings=warnings, complete=True)
            cursor["id"] = record.source_id
            cursor.setdefault("m", 0)
            cursor.setdefault("e", 0)
        ended = self._read_events(d, source, record, cursor, warnings)
        alive = self._set_liveness(d, record, ended)
        self._read_metrics(d, source, record, cursor, warnings, alive=alive)
        record.warnings.extend(warnings)
        return ReadResult(runs=[record], cursor=cursor, complete=fresh)

    # Parts ---------------------------------------------------------------

    def _read_meta(self, d: Path, source: SourceRef, record: RunRecord, warnings: list[ReadWarning]) -> bool:
        path = d / fmt.META_FILE
        rel = f"{source.rel}/{fmt.META_FILE}".lstrip("/")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            warnings.append(ReadWarning("unreadable-file", f"cannot read {rel}: {exc.strerror}", rel))
            return False
        problems = []  # one warning per file, naming every problem found in it
        try:
            meta = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            # Damaged: the fields that still parse, so that the run's points are not lost.
            meta = salvage_fields(raw)
            problems.append(f"is not valid JSON ({short(exc)}); read the {len(meta)} field(s) that still parse")
        if not isinstance(meta, dict):
            warnings.append(ReadWarning("bad-run-file", f"{rel} holds no JSON object", rel))
            return False
        if not meta.get("id") or not isinstance(meta["id"], (str, int)):
            recovered = _id_in_damaged_text(raw, d.name)
            if recovered:
                problems.append("has no readable run id; the id the folder name begins was found in its text")
            else:
                problems.append("has no run id; the folder name stands for it")
            meta["id"] = recovered or d.name
        if problems:
            warnings.append(ReadWarning("bad-run-file", f"{rel} " + "; and ".join(problems), rel))
        if not isinstance(meta.get("version", 1), int):
            meta["version"] = 1
        if meta.get("version", 1) > fmt.FORMAT_VERSION:
            warnings.append(
                ReadWarning(
                    "newer-format",
                    f"{rel} is format version {meta['version']}; this labdeck reads up to "
                    f"{fmt.FORMAT_VERSION}, so some fields may be missing",
                    rel,
                )
            )
        record.source_id = str(meta["id"])
        record.meta.update(
            experiment=str(meta.get("experiment") or ""),
            name=str(meta.get("name") or d.name),
            status="running",
            deleted=False,
            parent_source_id=meta.get("parent") or None,
            start_time=_int_or_none(meta.get("start_time")),
            end_time=None,
            path=source.rel,
            provenance=_mapping(meta.get("provenance")),
        )
        record.params.update({str(k): str(v) for k, v in _mapping(meta.get("params")).items()})
        record.tags.update({str(k): str(v) for k, v in _mapping(meta.get("tags")).items()})
        record.artifact_dir = str(d / fmt.ARTIFACTS_FOLDER)
        return True

    def _read_events(
        self, d: Path, source: SourceRef, record: RunRecord, cursor: dict, warnings: list[ReadWarning]
    ) -> bool:
        rel = f"{source.rel}/{fmt.EVENTS_FILE}".lstrip("/")
        data, offset = _read_whole_lines(d / fmt.EVENTS_FILE, cursor["e"], rel, warnings)
        lineno = cursor.get("e_lines", 0)
        for raw in data.splitlines():
            lineno += 1
            try:
                event = json.loads(raw)
                self._apply_event(event, record, cursor, d)
            except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
                warnings.append(
                    ReadWarning("bad-event-line", f"{rel} line {lineno} is not a valid event: {exc}", rel)
                )
        cursor["e"] = offset
        cursor["e_lines"] = lineno
        if record.meta.get("status") in fmt.END_STATUSES:
            cursor["ended"] = True
        return bool(cursor.get("ended"))

    @staticmethod
    def _apply_event(event: dict, record: RunRecord, cursor: dict, d: Path) -> None:
        kind = event["type"]
        if kind == "params":
            record.params.update({str(k): str(v) for k, v in event["params"].items()})
        elif kind == "tags":
            record.tags.update({str(k): str(v) for k, v in event["tags"].items()})
        elif kind == "end":
            status = event.get("status", "finished")
            record.meta["status"] = status if status in fmt.END_STATUSES else "unknown"
            record.meta["end_time"] = _int_or_none(event.get("time"))
            if event.get("error"):
                record.tags["labdeck.error"] = str(event["error"])
        elif kind == "dataset":
            # The whole list is kept in the cursor: an index update replaces a run's inputs.
            ref = f"{event['name']}:{event['version']}"
            entry = {"name": str(event["name"]), "digest": str(event.get("digest", "")),
                     "source_type": "labdeck", "source": ref, "context": str(event.get("context", "")),
                     "version": event["version"]}
            cursor["inputs"] = [i for i in cursor.get("inputs", []) if i["source"] != ref] + [entry]
            record.inputs = list(cursor["inputs"])
        elif kind == "outputs":
            # Runs other loggers wrote during a launched job, copied into outputs/.
            linked = [f"{o['format']}:{o['path']}" for o in event.get("runs", [])]
            if linked:
                record.tags["labdeck.outputs"] = ", ".join(linked)
        elif kind == "model":
            entry = {"model_id": str(event.get("path", event["name"])), "name": str(event["name"]),
                     "artifact_path": str(d / event["path"]), "step": event.get("step"), "status": "READY",
                     "created": event.get("time")}
            cursor["models"] = [m for m in cursor.get("models", []) if m["name"] != entry["name"]] + [entry]
            record.models = list(cursor["models"])
        # "artifact" events need nothing in the index: the artifacts folder is listed on demand.

    def _read_metrics(
        self,
        d: Path,
        source: SourceRef,
        record: RunRecord,
        cursor: dict,
        warnings: list[ReadWarning],
        *,
        alive: bool,
    ) -> None:
        rel = f"{source.rel}/{fmt.METRICS_FILE}".lstrip("/")
        path = d / fmt.METRICS_FILE
        start = cursor["m"]
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        if size < start:
            # The file shrank: it was replaced. Read it again from the start.
            start, record.replace_series = 0, True
            warnings.append(ReadWarning("file-rewritten", f"{rel} got shorter; read again from the start", rel))
        data, offset = _read_whole_lines(path, start, rel, warnings)
        if start == 0 and data.startswith(fmt.METRICS_HEADER):
            data = data[len(fmt.METRICS_HEADER) :]
        cursor["m"] = offset
        if data:
            lineno = cursor.get("m_lines", 1)
            record.points.update(_parse_points(data, rel, lineno, warnings))
            cursor["m_lines"] = lineno + data.count(b"\n")
        tail = size - offset
        if tail > 0 and not alive:  # a live writer finishes its line; a dead one never will
            warnings.append(
                ReadWarning(
                    "truncated-line",
                    f"{rel} ends with an incomplete line ({tail} bytes) that was left out",
                    rel,
                    transient=True,
                )
            )

    def _set_liveness(self, d: Path, record: RunRecord, ended: bool) -> bool:
        """Whether a process is still writing the run; marks runs whose process died."""
        if ended:
            return False
        try:
            lock = (d / fmt.LOCK_FILE).read_text()
        except OSError:
            lock = None
        if lock is None or fmt.lock_is_stale(lock):
            # No end event and no live writer: the process died without saying so.
            record.meta["status"] = "killed"
            record.meta["end_time"] = _last_write_ms(d)
            return False
        record.meta["status"] = "running"
        record.meta["end_time"] = None
        return True


def _read_whole_lines(path: Path, start: int, rel: str, warnings: list[ReadWarning]) -> tuple[bytes, int]:
    """Bytes from ``start`` up to the last newline, and the offset after it."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return b"", start
    except OSError as exc:
        warnings.append(ReadWarning("unreadable-file", f"cannot read {rel}: {exc.strerror}", rel))
        return b"", start
    end = data.rfind(b"\n") + 1
    return data[:end], start + end


def _parse_points(data: bytes, rel: str, first_line: int, warnings: list[ReadWarning]) -> dict[str, Points]:
    if len(data) < ARROW_MIN_BYTES:
        return _group_by_key(*_parse_points_slowly(data, rel, first_line, warnings))
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=list(_CSV_TYPES), use_threads=False),
            parse_options=_PARSE,
            convert_options=_CONVERT,
        )
        steps = column_array(table.column("step"), np.int64)
        values = column_array(table.column("value"), np.float64)
        walls = column_array(table.column("wall_ms"), np.float64)
        key_column = table.column("key")
        if key_column.num_chunks == 1:
            # Keys arrive dictionary-encoded: group on the integer codes, no string sorting.
            chunk = key_column.chunk(0)
            codes = column_array(chunk.indices, np.int32)
            return split_by_codes(chunk.dictionary.to_pylist(), codes, steps, values, walls)
        keys = np.array(key_column.to_pylist(), dtype=object)
    except (pa.ArrowInvalid, ValueError):
        keys, steps, values, walls = _parse_points_slowly(data, rel, first_line, warnings)
    return _group_by_key(keys, steps, values, walls)


def _parse_points_slowly(data: bytes, rel: str, first_line: int, warnings: list[ReadWarning]):
    """Line by line, keeping every good line and naming the bad ones."""
    keys, steps, values, walls = [], [], [], []
    bad = 0
    for offset, raw in enumerate(data.split(b"\n")[:-1]):
        lineno = first_line + offset + 1
        try:
            row = next(csv.reader([raw.decode("utf-8")]))
            key, step, value, wall = row
            parsed = (str(key), int(step), float(value), float(wall))
            if not -(2**63) <= parsed[1] < 2**63:  # a damaged step: no 64-bit step holds it
                raise ValueError(step)
        except (ValueError, UnicodeDecodeError, StopIteration, csv.Error):
            bad += 1
            if bad <= MAX_LINE_WARNINGS:
                shown = raw[:60].decode("utf-8", "replace")
                warnings.append(
                    ReadWarning("bad-metric-line", f"{rel} line {lineno} is not key,step,value,wall_ms: {shown!r}", rel)
                )
            continue
        keys.append(parsed[0])
        steps.append(parsed[1])
        values.append(parsed[2])
        walls.append(parsed[3])
    if bad > MAX_LINE_WARNINGS:
        warnings.append(
            ReadWarning("bad-metric-line", f"{rel}: {bad - MAX_LINE_WARNINGS} more bad lines left out", rel)
        )
    return (
        np.array(keys, dtype=object),
        np.array(steps, dtype=np.int64),
        np.array(values, dtype=np.float64),
        np.array(walls, dtype=np.float64),
    )


def _group_by_key(keys, steps, values, walls) -> dict[str, Points]:
    if len(keys) == 0:
        return {}
    uniques, codes = np.unique(keys, return_inverse=True)
    return split_by_codes([str(k) for k in uniques], codes, steps, values, walls)


_HEX_ID = re.compile(rb"[0-9a-f]{32}")


def _id_in_damaged_text(raw: bytes, folder: str) -> str | None:
    """The run id in a damaged meta file's bytes: the one 32-hex token that starts with the
    8 characters ending the folder's name (``<time>-<id8>``), so the run keeps its identity."""
    prefix = folder.rsplit("-", 1)[-1].encode()
    if len(prefix) != 8:
        return None
    found = {m.group().decode() for m in _HEX_ID.finditer(raw) if m.group().startswith(prefix)}
    return found.pop() if len(found) == 1 else None


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _last_write_ms(d: Path) -> int | None:
    times = []
    for name in (fmt.METRICS_FILE, fmt.EVENTS_FILE, fmt.META_FILE):
        try:
            times.append(os.stat(d / name).st_mtime_ns // 1_000_000)
        except OSError:
            pass
    return max(times) if times else None


READER = NativeReader()
