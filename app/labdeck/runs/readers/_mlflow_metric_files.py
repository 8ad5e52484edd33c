"""Parsing MLflow file-store metric files (``timestamp value step [dataset_name dataset_digest]``
per line): a strict pyarrow fast path for big files and a per-line parser that names bad lines."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from labdeck.runs.readers._arrow_numpy import column_array

_ARROW_MIN_BYTES = 4096  # below this plain Python beats pyarrow's set-up cost
_I64 = (-(1 << 63), 1 << 63)  # the int64 range: steps and timestamps outside it are bad lines


@dataclass
class _Parsed:
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray
    consumed: int  # bytes used up, from the start of the data
    bad: list[int]  # byte offsets of malformed lines
    tail: bool  # an unterminated last line (dropped when final, else left for later)


def parse_metric_bytes(data: bytes, final: bool) -> _Parsed:
    """Records of a run metric file: ``timestamp value [step [dataset_name dataset_digest]]``
    a line, in file order. An unterminated last line waits unless ``final``."""
    end = data.rfind(b"\n") + 1
    body = data[:end]
    tail = end < len(data)
    fast = _parse_arrow(body) if len(body) >= _ARROW_MIN_BYTES else None
    steps, values, walls, bad = fast if fast is not None else _parse_slow(body)
    return _Parsed(steps, values, walls, len(data) if tail and final else end, bad, tail)


def _arrow_options(width: int) -> tuple[Any, Any, Any]:
    """pyarrow CSV options for lines of ``width`` fields (built once: they cost more than a
    small file's parse)."""
    names = [f"c{i}" for i in range(width)]
    types = {"c0": pa.int64(), "c1": pa.float64(), "c2": pa.int64()}
    return (
        pa_csv.ReadOptions(column_names=names, use_threads=False),
        pa_csv.ParseOptions(delimiter=" ", quote_char=False, ignore_empty_lines=False),
        pa_csv.ConvertOptions(column_types={k: v for k, v in types.items() if k in names},
                              null_values=[], include_columns=names[:3]),
    )


_ARROW_OPTIONS = {width: _arrow_options(width) for width in (2, 3, 5)}


def _parse_arrow(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]] | None:
    """Strict C parse of a file whose lines all have the first line's number of fields;
    None on any irregularity (the slow path then finds and reports the bad lines)."""
    width = body[: body.find(b"\n")].count(b" ") + 1
    if width not in _ARROW_OPTIONS:
        return None
    read, parse, convert = _ARROW_OPTIONS[width]
    try:
        table = pa_csv.read_csv(io.BytesIO(body), read_options=read, parse_options=parse,
                                convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    walls = column_array(table.column("c0"), np.int64).astype(np.float64)
    values = column_array(table.column("c1"), np.float64)
    steps = column_array(table.column("c2"), np.int64) if width > 2 else np.zeros(len(walls), np.int64)
    return steps, values, walls, []


def _parse_slow(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    steps: list[int] = []
    values: list[float] = []
    walls: list[int] = []
    bad: list[int] = []
    pos = 0
    for line in body.split(b"\n")[:-1]:
        parsed = _parse_fields(line.split(), (2, 3, 5))
        if parsed is None:
            bad.append(pos)
        else:
            walls.append(parsed[0])
            values.append(parsed[1])
            steps.append(parsed[2])
        pos += len(line) + 1
    return (np.array(steps, np.int64), np.array(values, np.float64),
            np.array(walls, np.float64), bad)


def _parse_fields(parts: list[bytes], widths: tuple[int, ...]) -> tuple[int, float, int] | None:
    if len(parts) not in widths:
        return None
    try:
        wall, value = int(parts[0]), float(parts[1])
        step = int(parts[2]) if len(parts) > 2 else 0
    except ValueError:
        return None
    if not (_I64[0] <= wall < _I64[1] and _I64[0] <= step < _I64[1]):
        return None
    return wall, value, step


def parse_model_metric_bytes(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """Records of a logged-model metric file: ``timestamp value step [run_id]
    [dataset_name dataset_digest]``; returns (records, number of malformed lines)."""
    records: list[dict[str, Any]] = []
    bad = 0
    for line in data.splitlines():
        parts = line.split()
        parsed = _parse_fields(parts[:3], (3,)) if len(parts) in (3, 4, 5, 6) else None
        if parsed is None:
            bad += 1
            continue
        text = [p.decode("utf-8", "replace") for p in parts[3:]]
        dataset = text[-2:] if len(text) >= 2 else [None, None]
        records.append({"value": parsed[1], "step": parsed[2], "timestamp": parsed[0],
                        "dataset_name": dataset[0], "dataset_digest": dataset[1]})
    return records, bad
