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

Lightning records no run status or times, so the status is "unknown".
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from labdeck.runs.readers.base import (
    Detection,
    Points,
    ReadResult,
    Reader,
    ReadWarning,
    RunRecord,
    SourceRef,
    stat_fingerprint,
)

METRICS = "metrics.csv"
HPARAMS = "hparams.yaml"
STEP = "step"
# Lightning's ModelCheckpoint default folder inside a version folder: .ckpt pickles only.
CHECKPOINTS = "checkpoints"
TB_EVENTS_PREFIX = "events.out.tfevents"
HEADER_PROBE = 64 * 1024  # enough for any real header line
TAIL_CHECK = 256  # bytes before the offset compared on read-on: catches a rewrite of equal header
MAX_LINE_WARNINGS = 5
MAX_PARAMS = 10_000  # an alias-bomb YAML flattens into as many keys as it likes
MAX_DEPTH = 32
MAX_VALUE_CHARS = 100_000

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
        return stat_fingerprint([source.path / METRICS, source.path / HPARAMS])

    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        prev = cursor or {}
        folder = source.path
        if not folder.is_dir():
            # The whole run folder is gone: say so, and drop nothing here (the walk decides).
            warn = ReadWarning("missing-file", f"run folder {source.rel or '.'} disappeared", source.rel)
            return ReadResult(runs=[], cursor=prev, warnings=[warn], complete=False)
        record = RunRecord(source_id=source.rel, meta=_meta(source))
        new_cursor: dict[str, Any] = {"v": 1}
        _read_hparams(folder, _rel(source, HPARAMS), prev.get("hparams"), cursor is None, record, new_cursor)
        _read_metrics(folder, _rel(source, METRICS), prev.get("csv"), record, new_cursor)
        return ReadResult(runs=[record], cursor=new_cursor, complete=cursor is None)


READER = LightningCsvReader()


# Run fields ---------------------------------------------------------------


def _meta(source: SourceRef) -> dict[str, Any]:
    parent, _, name = source.rel.rpartition("/")
    return {"experiment": parent, "name": name or source.path.name, "status": "unknown", "path": source.rel}


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


def _read_hparams(
    folder: Path, rel: str, prev_sig: str | None, fresh: bool, record: RunRecord, cursor: dict[str, Any]
) -> None:
    path = folder / HPARAMS
    sig = stat_fingerprint([path])
    cursor["hparams"] = sig
    if sig == prev_sig and not fresh:
        return  # unchanged since the last read
    if sig == "-":
        if prev_sig not in (None, "-"):
            record.warnings.append(ReadWarning("missing-file", f"{rel} disappeared; kept its params", rel))
        return
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        record.warnings.append(_os_warning(exc, rel))
        cursor["hparams"] = prev_sig  # try again next time
        return
    params = _parse_hparams(text, rel, record.warnings)
    if params is not None:
        record.params = params
        record.replace_params = True


def _parse_hparams(text: str, rel: str, warnings: list[ReadWarning]) -> dict[str, str] | None:
    try:
        data = yaml.load(text, Loader=_DataLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        warnings.append(ReadWarning("bad-hparams", f"{rel} is not valid YAML: {_short(exc)}", rel))
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        warnings.append(ReadWarning("bad-hparams", f"{rel} holds a {type(data).__name__}, not a mapping", rel))
        return {"hparams": _text(data)}
    out: dict[str, str] = {}
    if not _flatten(data, "", out, 0):
        warnings.append(
            ReadWarning("bad-hparams", f"{rel} is nested too deep or holds over {MAX_PARAMS} values; cut", rel)
        )
    return out


def _flatten(data: dict, prefix: str, out: dict[str, str], depth: int) -> bool:
    """Nested mappings to 'a/b' keys; False when cut short by the size or depth limits."""
    for key, value in data.items():
        if len(out) >= MAX_PARAMS:
            return False
        name = f"{prefix}{_text(key)}"
        if isinstance(value, dict) and value:
            if depth >= MAX_DEPTH or not _flatten(value, name + "/", out, depth + 1):
                return False
        else:
            out[name] = _text(value)
    return True


def _text(value: Any) -> str:
    """``str(value)``, bounded: YAML aliases can make a tiny file print forever."""
    out = _Bounded()
    out.write(value, 0, top=True)
    return "".join(out.parts)


class _Bounded:
    """Text of nested values that stops near ``MAX_VALUE_CHARS``."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def add(self, piece: str) -> None:
        self.parts.append(piece)
        self.size += len(piece)

    @property
    def full(self) -> bool:
        return self.size > MAX_VALUE_CHARS

    def write(self, value: Any, depth: int, *, top: bool = False) -> None:
        if self.full or depth > MAX_DEPTH:
            return self.add("…")
        if not isinstance(value, (list, tuple, dict)):
            piece = str(value) if top else repr(value)  # as str() prints a container's items
            return self.add(piece if len(piece) <= MAX_VALUE_CHARS else piece[:MAX_VALUE_CHARS] + "…")
        is_dict, is_tuple = isinstance(value, dict), isinstance(value, tuple)
        self.add("{" if is_dict else "(" if is_tuple else "[")
        for i, item in enumerate(value.items() if is_dict else value):
            if i:
                self.add(", ")
            if self.full:
                self.add("…")
                break
            if is_dict:
                self.write(item[0], depth + 1)
                self.add(": ")
                item = item[1]
            self.write(item, depth + 1)
        self.add(",)" if is_tuple and len(value) == 1 else "}" if is_dict else ")" if is_tuple else "]")


class _DataLoader(yaml.SafeLoader):
    """SafeLoader that reads Python-specific and unknown tags as plain data, never objects."""


_PY = "tag:yaml.org,2002:python/"
_CALLS = ("object/apply:", "object/new:")


def _tagged_as_data(loader: _DataLoader, suffix: str, node: yaml.Node) -> Any:
    tag = node.tag[len(_PY) :] if node.tag.startswith(_PY) else node.tag
    if isinstance(node, yaml.ScalarNode):
        return _tagged_scalar(loader, tag, node)
    if isinstance(node, yaml.SequenceNode):
        items = loader.construct_sequence(node, deep=True)
        if tag == "tuple":
            return tuple(items)
        for call in _CALLS:
            if tag.startswith(call):
                # e.g. an enum member: shown as the call that would have rebuilt it, not run.
                return f"{tag[len(call):]}({_text(items)[1:-1]})"
        return items
    # Mappings: object:argparse.Namespace and friends carry their fields as a mapping.
    return loader.construct_mapping(node, deep=True)


_PLAIN = {"none": "null", "bool": "bool", "int": "int", "long": "int", "float": "float"}


def _tagged_scalar(loader: _DataLoader, tag: str, node: yaml.ScalarNode) -> Any:
    if tag in _PLAIN:  # python/int etc.: the plain YAML type
        try:
            return loader.yaml_constructors[f"tag:yaml.org,2002:{_PLAIN[tag]}"](loader, node)
        except (ValueError, yaml.YAMLError):
            pass
    value = loader.construct_scalar(node)
    if not value and ":" in tag:
        return tag.split(":", 1)[1]  # python/name:torch.optim.Adam -> 'torch.optim.Adam'
    return value


# Every tag SafeLoader has no constructor for ends here (prefix "" matches all).
_DataLoader.add_multi_constructor("", _tagged_as_data)


# metrics.csv --------------------------------------------------------------


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
    # Fast path: the CSV reader parses the numbers itself ('nan', 'inf', '-inf' included), and
    # nothing touches pyarrow.compute, whose first use costs ~250 ms per process.
    fast_warnings: list[ReadWarning] = []
    try:
        table = _arrow_rows(data, len(columns), pa.float64(), rel, first_line, fast_warnings)
        warnings.extend(fast_warnings)
        return _series({c: _float_cells(col) for c, col in zip(columns, table.columns)}, rel, warnings)
    except pa.ArrowInvalid:
        pass  # some cell is not a number: column by column below, naming the bad cells
    try:
        table = _arrow_rows(data, len(columns), pa.binary(), rel, first_line, warnings)
    except (pa.ArrowInvalid, ValueError) as exc:
        warnings.append(ReadWarning("bad-csv-row", f"{rel}: rows after line {first_line} unreadable: {exc}", rel))
        return {}
    cells = {c: _numbers(col, rel, c, warnings) for c, col in zip(columns, table.columns)}
    return _series(cells, rel, warnings)


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
    integral = ok & np.isfinite(steps) & (np.floor(steps) == steps)
    if not integral.all():
        missing = int((~integral).sum())
        warnings.append(ReadWarning("bad-step", f"{rel}: {missing} row(s) without an integer step left out", rel))
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
    arr = column.combine_chunks() if column.num_chunks else pa.array([], pa.float64())
    n = len(arr)
    if n == 0:
        return np.empty(0), np.empty(0, bool)
    validity, values = arr.buffers()[:2]
    floats = np.frombuffer(values, np.float64, count=n, offset=arr.offset * 8)
    if validity is None:
        return floats, np.ones(n, bool)
    bits = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")
    return floats, bits[arr.offset : arr.offset + n].astype(bool)


def _numbers(column: pa.ChunkedArray, rel: str, name: str, warnings: list[ReadWarning]) -> Cells:
    """Cells as floats ('nan', 'inf', '-inf' included) and which cells held a number."""
    arr = column.combine_chunks() if column.num_chunks else pa.array([], pa.binary())
    mask = pc.not_equal(arr, b"")
    try:
        values = pc.cast(pc.if_else(mask, arr, b"nan"), pa.float64()).to_numpy(zero_copy_only=False)
        return values, mask.to_numpy(zero_copy_only=False)
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


def _os_warning(exc: OSError, rel: str) -> ReadWarning:
    if isinstance(exc, PermissionError):
        return ReadWarning("permission-denied", f"cannot read {rel}: permission denied", rel)
    return ReadWarning("unreadable-file", f"cannot read {rel}: {exc.strerror or exc}", rel)


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
