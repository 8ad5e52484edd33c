"""Reading runs' metric rows from MLflow's SQLite store: rowid ranges in bounded chunks (so
each read lock stays short), turned into one ``Points`` series per key."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np
import pandas as pd

from labdeck.runs.readers._mlflow_sqlite_store import DBL_MAX, as_text
from labdeck.runs.readers.base import Points, ReadWarning

CHUNK_ROWS = 200_000  # metric rows per statement: each read lock stays well under a second
_ROW = np.dtype([("k", "O"), ("s", "i8"), ("v", "f8"), ("t", "f8")])
_SERIES_SQL = (
    "SELECT key, step, CASE WHEN is_nan THEN NULL ELSE value END, timestamp FROM metrics"
    " WHERE run_uuid = ? AND rowid > ? AND rowid <= ? ORDER BY rowid"
)
# The rowid CHUNK_ROWS rows further on (index-only): where the next chunk starts.
_BOUNDARY_SQL = (
    "SELECT rowid FROM metrics WHERE run_uuid = ? AND rowid > ? AND rowid <= ?"
    " ORDER BY rowid LIMIT 1 OFFSET ?"
)


def _to_array(rows: list[tuple], bad: list[int]) -> np.ndarray:
    """Rows as one structured array; rows that are not numbers are dropped and counted."""
    try:
        return np.array(rows, dtype=_ROW)
    except (TypeError, ValueError, OverflowError):
        good = []
        for row in rows:
            try:
                np.array([row], dtype=_ROW)
            except (TypeError, ValueError, OverflowError):
                continue
            good.append(row)
        bad.append(len(rows) - len(good))
        return np.array(good, dtype=_ROW)


def _run_rows(con: sqlite3.Connection, run_id: str, lo: int, hi: int, bad: list[int]) -> np.ndarray:
    """The run's metric rows with rowid in (lo, hi], in logging order, in bounded chunks."""
    parts = []
    start = lo
    while True:
        nxt = con.execute(_BOUNDARY_SQL, (run_id, start, hi, CHUNK_ROWS)).fetchone()
        end = hi if nxt is None else nxt[0] - 1
        parts.append(_to_array(con.execute(_SERIES_SQL, (run_id, start, end)).fetchall(), bad))
        if nxt is None:
            return parts[0] if len(parts) == 1 else np.concatenate(parts)
        start = end


def _group(rows: np.ndarray) -> dict[str, Points]:
    values = rows["v"]
    values[values == DBL_MAX] = np.inf
    values[values == -DBL_MAX] = -np.inf
    codes, keys = pd.factorize(rows["k"], use_na_sentinel=False)
    if len(keys) == 1:  # copies: views would keep every row's key string alive
        return {as_text(keys[0]): Points(rows["s"].copy(), values.copy(), rows["t"].copy())}
    order = np.argsort(codes, kind="stable")  # stable: each series keeps logging order
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return {
        as_text(key): Points(rows["s"][idx], values[idx], rows["t"][idx])
        for key, idx in zip(keys, np.split(order, bounds))
    }


def read_series(
    con: sqlite3.Connection, run_ids: Iterable[str], lo: int, hi: int, rel: str
) -> tuple[dict[str, dict[str, Points]], dict[str, list[ReadWarning]]]:
    points: dict[str, dict[str, Points]] = {}
    warnings: dict[str, list[ReadWarning]] = {}
    for run_id in run_ids:
        bad: list[int] = []
        try:
            rows = _run_rows(con, run_id, lo, hi, bad)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "lock" in str(exc).lower():
                raise  # a busy store: the whole read is retried later
            warnings.setdefault(run_id, []).append(ReadWarning(
                "unreadable-metrics",
                f"metrics of run {run_id} in {rel} cannot be read: {exc}", rel))
            continue
        if sum(bad):
            warnings.setdefault(run_id, []).append(ReadWarning(
                "bad-metric-value",
                f"{sum(bad)} metric row(s) of run {run_id} in {rel} hold no number; skipped", rel))
        if len(rows):
            points[run_id] = _group(rows)
    return points, warnings
