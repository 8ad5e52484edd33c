"""Reading runs' metric points from MLflow's SQLite store, one series per key, on demand.

The index keeps only summaries of these runs (``labdeck.db.series_sources``); plots, the
CLI and reproduction ask ``load_points``, which reads one run per statement (each read lock
stays short) and keeps only rows that hold numbers (``GOOD_ROW``), the rows the summaries
count."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from labdeck.db.entities import Series
from labdeck.db.series_sources import SeriesUnavailable
from labdeck.runs.readers._mlflow_sqlite_cache import CACHE, file_state
from labdeck.runs.readers._mlflow_sqlite_store import (
    DBL_MAX,
    StoreError,
    as_text,
    connect,
)
from labdeck.runs.readers.base import Points

_ROW = np.dtype([("k", "O"), ("s", "i8"), ("v", "f8"), ("t", "f8")])
_KEY_ROW = np.dtype([("s", "i8"), ("v", "f8"), ("t", "f8")])
# A row MLflow could have written: a number (or the NaN flag), an integer step and time.
# (The summaries filter with it in SQL; point reads check the same in Python, which measured
# cheaper than asking SQLite for every row's types.)
GOOD_ROW = ("(is_nan OR typeof(value) IN ('integer', 'real'))"
            " AND typeof(step) = 'integer' AND typeof(timestamp) = 'integer'")
_VALUE = "CASE WHEN is_nan THEN NULL ELSE value END"
_RUN_SQL = f"SELECT key, step, {_VALUE}, timestamp FROM metrics WHERE run_uuid = ? ORDER BY rowid"
_KEY_SQL = f"SELECT step, {_VALUE}, timestamp FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY rowid"
FEW_KEYS = 3  # up to this many keys are read one by one; more, with the whole run


def _good(rows: list[tuple]) -> list[tuple]:
    """The rows ``GOOD_ROW`` keeps (the value is None exactly when MLflow's NaN flag is set)."""
    s, v, t = (0, 1, 2) if len(rows[0]) == 3 else (1, 2, 3)
    numbers = {int, float, type(None)}
    if ({type(r[v]) for r in rows} <= numbers and {type(r[s]) for r in rows} == {int}
            and {type(r[t]) for r in rows} == {int}):
        return rows
    return [r for r in rows if type(r[v]) in numbers and type(r[s]) is int and type(r[t]) is int]


def _group(rows: np.ndarray) -> dict[str, Points]:
    import pandas as pd  # here: every index pass loads this module, and pandas takes 0.4 s

    values = _clamped(rows["v"])
    codes, keys = pd.factorize(rows["k"], use_na_sentinel=False)
    if len(keys) == 1:  # copies: views would keep every row's key string alive
        return {as_text(keys[0]): Points(rows["s"].copy(), values.copy(), rows["t"].copy())}
    order = np.argsort(codes, kind="stable")  # stable: each series keeps logging order
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return {
        as_text(key): Points(rows["s"][idx], values[idx], rows["t"][idx])
        for key, idx in zip(keys, np.split(order, bounds))
    }


def _clamped(values: np.ndarray) -> np.ndarray:
    values[values == DBL_MAX] = np.inf
    values[values == -DBL_MAX] = -np.inf
    return values


def _run_points(con: sqlite3.Connection, run_id: str, keys: list[str] | None) -> dict[str, Series]:
    out: dict[str, Series] = {}
    if keys is not None and len(keys) <= FEW_KEYS:
        for key in keys:  # through MLflow's run index: only this key's rows come back
            rows = con.execute(_KEY_SQL, (run_id, key)).fetchall()
            rows = _good(rows) if rows else rows
            if rows:
                a = np.array(rows, dtype=_KEY_ROW)
                out[key] = Series(a["s"], _clamped(a["v"]), a["t"])
        return out
    rows = con.execute(_RUN_SQL, (run_id,)).fetchall()
    rows = _good(rows) if rows else rows
    if not rows:
        return out
    wanted = None if keys is None else set(keys)
    for key, p in _group(np.array(rows, dtype=_ROW)).items():
        if wanted is None or key in wanted:
            out[key] = Series(p.steps, p.values, p.walls)
    return out


def load_points(db: Path, run_ids: list[str], keys: list[str] | None) -> dict[str, dict[str, Series]]:
    """Every point of ``keys`` (or all) of those runs, as the store holds them now (from the
    cache while the store is unchanged; the arrays are shared, so read-only)."""
    if keys is not None and not keys:
        return {}
    if not db.exists():
        raise SeriesUnavailable(
            f"{db} is gone since it was indexed (moved or deleted): its runs' points are read from it "
            "when asked for; `labdeck index` brings the index up to date")
    try:
        con, _immutable = connect(db)
    except StoreError as exc:
        raise SeriesUnavailable(f"cannot read points from {db}: {exc}") from None
    try:
        # Taken before reading: a commit meanwhile makes the next look a miss.
        state = (file_state(db), con.execute("SELECT max(rowid) FROM metrics").fetchone()[0])
        wanted = None if keys is None else tuple(keys)
        out = {}
        for run_id in run_ids:
            series = CACHE.get(str(db), state, run_id, wanted)
            if series is None:
                series = _run_points(con, run_id, keys)
                for s in series.values():
                    for a in (s.steps, s.values, s.walls):
                        a.flags.writeable = False
                CACHE.put(str(db), state, run_id, wanted, series)
            out[run_id] = dict(series)
        return out
    except sqlite3.Error as exc:
        raise SeriesUnavailable(f"cannot read points from {db}: {exc}") from None
    finally:
        con.close()
