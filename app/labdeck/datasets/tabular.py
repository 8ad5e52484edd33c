"""Tabular files (CSV, Parquet, JSON lines, Arrow): loading, a preview and per-column statistics.

Files are parsed with pyarrow (never unpickled or imported). Statistics come as typed records
(``Profile``, ``ColumnProfile``) holding JSON-ready values (NaN becomes None), so they can be
printed, diffed and stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labdeck.errors import UserError

if TYPE_CHECKING:  # loaded where a file is parsed: listing or adding datasets never pays pandas' import
    import pandas as pd

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
HIST_BINS = 10


class TabularError(UserError):
    pass


def tabular_format(rel: str) -> str | None:
    return FORMATS.get(Path(rel).suffix.lower())


def is_image(rel: str) -> bool:
    return Path(rel).suffix.lower() in IMAGE_SUFFIXES


def load(source: str | Path | bytes, rel: str) -> pd.DataFrame:
    """Read ``source`` (a file's path, or the bytes of a packed store object) as the format ``rel``'s suffix names."""
    import pyarrow as pa

    fmt = tabular_format(rel)

    def src():  # a fresh reader each time: a failed first attempt may have consumed one
        return pa.BufferReader(source) if isinstance(source, bytes) else source

    try:
        if fmt in ("csv", "tsv"):
            from pyarrow import csv as pacsv

            opts = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
            return pacsv.read_csv(src(), parse_options=opts).to_pandas()
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(src()).to_pandas()
        if fmt == "jsonl":
            from pyarrow import json as pajson

            return pajson.read_json(src()).to_pandas()
        if fmt == "arrow":
            from pyarrow import feather

            try:
                return feather.read_table(src()).to_pandas()
            except pa.ArrowInvalid:
                with (pa.BufferReader(source) if isinstance(source, bytes) else pa.memory_map(str(source))) as f:
                    return pa.ipc.open_stream(f).read_all().to_pandas()
    except Exception as exc:  # noqa: BLE001 - any parse failure is reported, not raised further
        raise TabularError(f"{rel}: cannot read as {fmt}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    raise TabularError(f"{rel}: not a tabular file (CSV, TSV, Parquet, JSON lines, Arrow)")


def kind(series: pd.Series) -> str:
    """A short type name used in schemas and validation rules."""
    import pandas as pd

    dt = series.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_integer_dtype(dt):
        return "int"
    if pd.api.types.is_float_dtype(dt):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if pd.api.types.is_string_dtype(dt) or dt == "object":
        non_null = series.dropna()
        if len(non_null) == 0 or all(isinstance(v, str) for v in non_null.head(1000)):
            return "string"
    return "other"


def _json_value(v):
    import numpy as np
    import pandas as pd

    if v is None:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v if isinstance(v, (int, str, bool)) else str(v)


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]  # HIST_BINS + 1 bin edges
    counts: tuple[int, ...]


@dataclass(frozen=True)
class ColumnProfile:
    """One column's statistics. ``min``/``max``/``mean`` are JSON-ready values (None: not
    applicable); numbers get a ``histogram`` of their finite values, strings their ``top`` values."""

    type: str
    nulls: int
    null_fraction: float
    distinct: int | None
    min: Any = None
    max: Any = None
    mean: Any = None
    histogram: Histogram | None = None
    top: dict[str, int] | None = None

    def stat(self, name: str) -> Any:
        """A statistic by name (what a diff compares: ``diff.STATS``)."""
        return getattr(self, name)


@dataclass(frozen=True)
class Profile:
    rows: int
    schema: dict[str, str]  # column -> type
    columns: dict[str, ColumnProfile]


def column_stats(series: pd.Series) -> ColumnProfile:
    import numpy as np

    k = kind(series)
    n = len(series)
    nulls = int(series.isna().sum())
    non_null = series.dropna()
    try:
        distinct: int | None = int(non_null.nunique())
    except TypeError:  # unhashable values (lists from JSON lines)
        distinct = None
    extra: dict[str, Any] = {}
    if k in ("int", "float") and len(non_null):
        values = non_null.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        extra["min"] = _json_value(values.min())
        extra["max"] = _json_value(values.max())
        extra["mean"] = _json_value(finite.mean()) if len(finite) else None
        if len(finite):
            counts, edges = np.histogram(finite, bins=HIST_BINS)
            extra["histogram"] = Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))
    elif k in ("string", "datetime", "bool") and len(non_null):
        try:
            extra["min"] = _json_value(non_null.min())
            extra["max"] = _json_value(non_null.max())
        except TypeError:
            pass
        if k == "string":
            top = non_null.value_counts().head(HIST_BINS)
            extra["top"] = {str(key): int(c) for key, c in top.items()}
    return ColumnProfile(k, nulls, (nulls / n) if n else 0.0, distinct, **extra)


def profile_frame(frame: pd.DataFrame) -> Profile:
    return Profile(
        rows=len(frame),
        schema={str(c): kind(frame[c]) for c in frame.columns},
        columns={str(c): column_stats(frame[c]) for c in frame.columns},
    )
