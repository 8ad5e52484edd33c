"""Reader for PyTorch Lightning's CSVLogger: ``<save_dir>/<name>/<version>/metrics.csv`` + ``hparams.yaml``.

One run per version folder. ``metrics.csv`` has one column per logged key (plus ``step`` and
``epoch``) and sparse rows; Lightning appends rows, but rewrites the whole file with a wider
header when a key appears for the first time. So we read on from a byte offset while the header
(and the bytes just before the offset) are unchanged, and read everything again otherwise.

``hparams.yaml`` is written with PyYAML's full Dumper and may hold Python tags
(``!!python/object:argparse.Namespace``, ``!!python/tuple``, ``!!python/name:...``). It is read
with a SafeLoader that turns every unknown tag into plain data: nothing is imported or called.
Nested mappings are flattened with "/" (what Lightning's own TensorBoard and MLflow loggers do),
values become ``str()`` text ('nan', 'inf', 'None', '[4, 8, 1]').

Lightning records no run status, end marker or wall times: the status is "running" while a file
of the version folder (metrics, hparams, checkpoints) was written within the quiet period, else
"finished" (a killed training looks the same; ``_liveness``); start and end come from the files'
times (its TensorBoardLogger twin's event file names give the start). The run is named as the logger names it, ``<name>/<version>`` with the folders above it
(``live/version_0``, ``tb_logs/smoke/version_3``), in the experiment ``<name>``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from labdeck.runs.readers._arrow_numpy import column_array
from labdeck.runs.readers._hparams_yaml import HPARAMS, _read_hparams
from labdeck.runs.readers._io import os_warning as _os_warning
from labdeck.runs.readers._liveness import files_in, is_live, mtimes, quiet_mark, tfevents_start_s, time_span_ms
from labdeck.runs.readers._twins import event_files_of_twin
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

METRICS = "metrics.csv"
STEP = "step"
# Lightning's ModelCheckpoint default folder inside a version folder: .ckpt pickles only.
CHECKPOINTS = "checkpoints"
TB_EVENTS_PREFIX = "events.out.tfevents"
HEADER_PROBE = 64 * 1024  # enough for any real header line
TAIL_CHECK = 256  # bytes before the offset compared on read-on: catches a rewrite of equal header
MAX_LINE_WARNINGS = 5

Cells = tuple[np.ndarray, np.ndarray]  # float values, and which cells held a number


class LightningCsvReader(Reader):
    format = "lightning"

    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        has_csv, has_yaml = METRICS in names, HPARAMS in names
        if not (has_csv or has_yaml):
            return None
        # hparams.yaml alone is also what Lightning's TensorBoardLogger writes next to its event
        # files: that folder belongs to the TensorBoard reader.
        yaml_run = has_yaml and not any(n.startswith(TB_EVENTS_PREFIX) for n in names)
        if not yaml_run and not (has_csv and _has_step_header(folder / METRICS)):
            return None
        prune = frozenset({CHECKPOINTS} & names)
        return Detection(sources=[SourceRef(self.format, folder, rel)], prune=prune)

    def fingerprint(self, source: SourceRef) -> str:
        files = [source.path / METRICS, source.path / HPARAMS]
        quiet = quiet_mark(files_in(source.path), lambda: event_files_of_twin(source.path, source.rel))
        return f"{stat_fingerprint(files)}|{quiet}"

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        prev = cursor or {}
        folder = source.path
        if not folder.is_dir():
            # The whole run folder is gone: say so, and drop nothing here (the walk decides).
            warn = ReadWarning("missing-file", f"run folder {source.rel or '.'} disappeared", source.rel)
            return ReadResult(runs=[], cursor=prev, warnings=[warn], complete=False)
        # The version folder holds the ModelCheckpoint's .ckpt files: model candidates of the run.
        record = RunRecord(source_id=source.rel, meta=_meta(source), artifact_dir=str(folder))
        new_cursor: dict[str, Any] = {"v": 1}
        _read_hparams(folder, _rel(source, HPARAMS), prev.get("hparams"), cursor is None, record, new_cursor)
        _read_metrics(folder, _rel(source, METRICS), prev.get("csv"), record, new_cursor)
        return ReadResult(runs=[record], cursor=new_cursor, complete=cursor is None)


READER = LightningCsvReader()


# Run fields ---------------------------------------------------------------


def _meta(source: SourceRef) -> dict[str, Any]:
    files = files_in(source.path)  # metrics.csv, hparams.yaml, checkpoints/*.ckpt
    # metrics.csv records no wall time and is rewritten: a TensorBoardLogger twin's event file
    # names carry when the training started.
    twin_events = event_files_of_twin(source.path, source.rel)
    start, end = time_span_ms(files, [tfevents_start_s(n) for n in twin_events])
    return {
        "experiment": source.path.parent.name,  # the logger's name
        "name": source.rel or source.path.name,
        "status": "running" if is_live(max(mtimes(files), default=None), lambda: twin_events) else "finished",
        "start_time": start,
        "end_time": end,
        "path": source.rel,
    }


def _rel(source: SourceRef, name: str) -> str:
    return f"{source.rel}/{name}" if source.rel else name


def _has_step_header(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_PROBE)
    except OSError:
        return False
    end = head.find(b"\n")
    if end < 0:
        return False
    return STEP in _header_fields(head[:end])


def _header_fields(line: bytes) -> list[str]:
    text = line.rstrip(b"\r").decode("utf-8", "replace")
    try:
        return next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return []


# hparams.yaml -------------------------------------------------------------


def _read_metrics(folder: Path, rel: str, prev: dict | None, record: RunRecord, cursor: dict[str, Any]) -> None:
    path = folder / METRICS
    cursor["csv"] = prev  # unless something better is read below: nothing read is ever lost
    try:
        with open(path, "rb") as f:
            data, state = _new_bytes(f, prev, rel, record)
    except FileNotFoundError:
        if prev:
            record.warnings.append(ReadWarning("missing-file", f"{rel} disappeared; kept its points", rel))
        return
    except OSError as exc:
        record.warnings.append(_os_warning(exc, rel))
        return
    if state is None:
        return
    cursor["csv"] = state
    record.points = _parse_rows(data, state["columns"], rel, state["lines"], record.warnings)
    state["lines"] += data.count(b"\n")


def _new_bytes(f: Any, prev: dict | None, rel: str, record: RunRecord) -> tuple[bytes, dict | None]:
    """Whole lines not read before, and the cursor after them (None: nothing readable yet)."""
    head = f.read(HEADER_PROBE)
    end = head.find(b"\n")
    if end < 0:
        # Empty, or being rewritten right now: keep what was read before.
        record.warnings.append(
            ReadWarning("truncated-line", f"{rel} has no complete header line yet", rel, transient=True)
        )
        return b"", None
    header = head[: end + 1]
    start = _resume_offset(f, header, prev)
    if start is None:
        # First read, or Lightning rewrote the file with a wider header: everything again.
        start = len(header)
        record.replace_series = True
    f.seek(start)
    data = f.read()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        record.warnings.append(
            ReadWarning(
                "truncated-line",
                f"{rel} ends with an incomplete line ({len(data) - cut} bytes), left for the next read",
                rel,
                transient=True,
            )
        )
    offset = start + cut
    data = data[:cut]
    state = {
        "offset": offset,
        "header_len": len(header),
        "header_sha1": _sha1(header),
        "tail_sha1": _sha1(_tail(f, offset, data)),
        "columns": _header_fields(header),
        "lines": prev.get("lines", 1) if prev and not record.replace_series else 1,
    }
    return data, state


def _resume_offset(f: Any, header: bytes, prev: dict | None) -> int | None:
    """Where the last read stopped, if the file still starts as it did; else None."""
    if not prev or prev.get("header_len") != len(header) or prev.get("header_sha1") != _sha1(header):
        return None
    offset = prev.get("offset")
    if not isinstance(offset, int) or offset < len(header):
        return None
    if _sha1(_tail(f, offset, None)) != prev.get("tail_sha1"):
        return None  # shrank, or the same header over different rows
    return offset


def _tail(f: Any, offset: int, data: bytes | None) -> bytes:
    """The ``TAIL_CHECK`` bytes before ``offset`` (from ``data`` when it holds them)."""
    if data is not None and len(data) >= TAIL_CHECK:
        return data[-TAIL_CHECK:]
    start = max(0, offset - TAIL_CHECK)
    f.seek(start)
    got = f.read(offset - start)
    return got if len(got) == offset - start else b"\x00short"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _parse_rows(
    data: bytes, columns: list[str], rel: str, first_line: int, warnings: list[ReadWarning]
) -> dict[str, Points]:
    if not data.strip():
        return {}
    if STEP not in columns:
        warnings.append(ReadWarning("bad-header", f"{rel} has no 'step' column; rows left out", rel))
        return {}
    if not _is_utf8(data):
        # pyarrow cannot even describe a bad row that is not UTF-8 (it raises inside its own
        # error handler): damaged bytes are read line by line, costing only their lines.
        warnings.append(ReadWarning("non-utf8-bytes", f"{rel} holds bytes that are not UTF-8; "
                                    "the rows holding them are read as far as they parse", rel))
        return _series(_python_cells(data, columns, rel, first_line, warnings), rel, warnings)
    if b'"' in data:
        # Rows of numbers hold no quotes; a stray one makes arrow swallow the rows after it.
        return _series(_python_cells(data, columns, rel, first_line, warnings), rel, warnings)
    # Fast path: the CSV reader parses the numbers itself ('nan', 'inf', '-inf' included), and
    # nothing touches pyarrow.compute, whose first use costs ~250 ms per process.
    fast_warnings: list[ReadWarning] = []
    try:
        table = _arrow_rows(data, len(columns), pa.float64(), rel, first_line, fast_warnings)
        warnings.extend(fast_warnings)
        return _series({c: _float_cells(col) for c, col in zip(columns, table.columns)}, rel, warnings)
    except pa.ArrowInvalid:
        pass  # some cell is not a number: column by column below, naming the bad cells
    slow_warnings: list[ReadWarning] = []
    try:
        table = _arrow_rows(data, len(columns), pa.binary(), rel, first_line, slow_warnings)
    except (pa.ArrowInvalid, ValueError):
        # A row arrow cannot split at all (a stray quote, say): line by line, so that the
        # damage costs its own rows and not the file.
        return _series(_python_cells(data, columns, rel, first_line, warnings), rel, warnings)
    warnings.extend(slow_warnings)
    cells = {c: _numbers(col, rel, c, warnings) for c, col in zip(columns, table.columns)}
    return _series(cells, rel, warnings)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _python_cells(
    data: bytes, columns: list[str], rel: str, first_line: int, warnings: list[ReadWarning]
) -> dict[str, Cells]:
    """Each line on its own (the slow path, for damaged files): a line that is not a row of
    the header's width is left out, and a cell that is not a number is left empty."""
    width = len(columns)
    rows: list[list[str]] = []
    bad_rows: list[int] = []
    for number, raw in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")):
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            fields = []
        if len(fields) != width:
            bad_rows.append(first_line + number + 1)
            continue
        rows.append(fields)
    if bad_rows:
        shown = ", ".join(map(str, bad_rows[:MAX_LINE_WARNINGS])) + (" ..." if len(bad_rows) > MAX_LINE_WARNINGS else "")
        warnings.append(ReadWarning("bad-csv-row", f"{rel}: {len(bad_rows)} damaged row(s) left out (line {shown})", rel))
    cells: dict[str, Cells] = {}
    for i, name in enumerate(columns):
        raw_cells = [r[i].encode("utf-8") for r in rows]
        cells[name] = _numbers_slowly(raw_cells, rel, name, warnings)
    return cells


def _arrow_rows(
    data: bytes, n_columns: int, cell_type: pa.DataType, rel: str, first_line: int, warnings: list[ReadWarning]
) -> pa.Table:
    """Cells as ``cell_type``, an empty cell as null (float) or b"" (binary); rows of the wrong
    width are left out, with a warning."""
    bad = 0

    def skip(row: Any) -> str:
        nonlocal bad
        bad += 1
        if bad <= MAX_LINE_WARNINGS:
            msg = f"{rel} row {first_line + (row.number or 0)} is not a valid row: {(row.text or '')[:60]!r}"
            warnings.append(ReadWarning("bad-csv-row", msg, rel))
        return "skip"

    # Positional names: header names may repeat or be empty. Binary cells, not strings: bad
    # UTF-8 is a bad number, not a failed file.
    names = [f"c{i}" for i in range(n_columns)]
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=False, invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(
            column_types={n: cell_type for n in names},
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if bad > MAX_LINE_WARNINGS:
        warnings.append(ReadWarning("bad-csv-row", f"{rel}: {bad - MAX_LINE_WARNINGS} more bad rows left out", rel))
    return table


def _series(cells: dict[str, Cells], rel: str, warnings: list[ReadWarning]) -> dict[str, Points]:
    """One series per column but step: a point per non-empty cell, in row order."""
    steps, ok = cells[STEP]
    # A step past int64 (a damaged cell) is no step: it would not survive the cast below.
    integral = ok & np.isfinite(steps) & (np.floor(steps) == steps) & (np.abs(steps) < 2.0**63)
    if not integral.all():
        missing = int((~integral).sum())
        warnings.append(ReadWarning("bad-step", f"{rel}: {missing} row(s) without an integer step (or one past 64 bits) left out", rel))
    steps_int = np.where(integral, steps, 0).astype(np.int64)
    out: dict[str, Points] = {}
    for name, (values, present) in cells.items():
        if name == STEP:
            continue
        keep = present & integral
        if keep.any():
            out[name] = Points(steps_int[keep], values[keep], np.full(int(keep.sum()), np.nan))
    return out


def _float_cells(column: pa.ChunkedArray) -> Cells:
    """A parsed float column as numpy, straight from arrow's buffers (no compute kernels)."""
    if column.num_chunks == 0 or len(column) == 0:  # (pa.array would import pandas)
        return np.empty(0), np.empty(0, bool)
    arr = column.combine_chunks()
    n = len(arr)
    validity, values = arr.buffers()[:2]
    floats = np.frombuffer(values, np.float64, count=n, offset=arr.offset * 8)
    if validity is None:
        return floats, np.ones(n, bool)
    bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
    return floats, bits[arr.offset : arr.offset + n].astype(bool)


def _numbers(column: pa.ChunkedArray, rel: str, name: str, warnings: list[ReadWarning]) -> Cells:
    """Cells as floats ('nan', 'inf', '-inf' included) and which cells held a number."""
    import pyarrow.compute as pc  # here: 80 ms of imports every index pass would pay

    if column.num_chunks == 0 or len(column) == 0:
        return np.empty(0), np.empty(0, bool)
    arr = column.combine_chunks()
    mask = pc.not_equal(arr, b"")
    try:
        # Read from arrow's buffers: pyarrow's to_numpy imports pandas (readers/_arrow_numpy.py).
        values = column_array(pc.cast(pc.if_else(mask, arr, b"nan"), pa.float64()), np.float64)
        return values, column_array(pc.cast(mask, pa.uint8()), np.uint8).astype(bool)
    except pa.ArrowInvalid:
        return _numbers_slowly(arr.to_pylist(), rel, name, warnings)


def _numbers_slowly(cells: list[bytes], rel: str, name: str, warnings: list[ReadWarning]) -> Cells:
    """Cell by cell (Python's float() also takes ' 1.5'); the rest are named in one warning."""
    values = np.full(len(cells), np.nan)
    present = np.zeros(len(cells), dtype=bool)
    bad: list[bytes] = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        try:
            values[i] = float(cell)
            present[i] = True
        except ValueError:
            bad.append(cell)
    if bad:
        shown = bad[0][:40].decode("utf-8", "replace")
        msg = f"{rel}: {len(bad)} cell(s) of column {name!r} are not numbers (e.g. {shown!r}); left out"
        warnings.append(ReadWarning("bad-metric-value", msg, rel))
    return values, present
