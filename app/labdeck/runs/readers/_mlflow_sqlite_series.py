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
from labdeck.runs.readers._points_by_key import split_by_codes
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
_KEYS_SQL = "SELECT DISTINCT key, CAST(key AS BLOB) FROM metrics WHERE run_uuid = ?"
_CODED_ROW = np.dtype([("k", "i8"), ("s", "i8"), ("v", "f8"), ("t", "f8")])
# A whole run with more keys is read with each row's key as text: the CASE then costs more a
# row than the text (30,000 rows: 61 against 67 ms with 10 keys, 81 against 78 with 64).
MANY_KEYS = 32


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

    codes, keys = pd.factorize(rows["k"], use_na_sentinel=False)
    return _split(rows, codes, [as_text(k) for k in keys])


def _split(rows: np.ndarray, codes: np.ndarray, keys: list[str]) -> dict[str, Points]:
    """Each key's points, keys in order of first appearance (``codes`` number them so), each
    series in logging order; copies: views would keep every row's key string alive."""
    return split_by_codes(keys, codes, rows["s"], _clamped(rows["v"]), rows["t"], copy=True)


def _coded(con: sqlite3.Connection, run_id: str) -> dict[str, Points] | None:
    """The run's points read with each row's key as a number: a key's text made once per
    key, not once per row (2 M rows: 1.8 s of decoding, and pandas to group them). None where
    the run has more keys than a CASE should compare, or a key came meanwhile."""
    known = con.execute(_KEYS_SQL, (run_id,)).fetchall()
    if not known or len(known) > MANY_KEYS:
        return None
    case = " ".join(f"WHEN ? THEN {n}" for n in range(len(known)))
    rows = con.execute(f"SELECT CASE CAST(key AS BLOB) {case} END, step, {_VALUE}, timestamp FROM metrics "
                       "WHERE run_uuid = ? ORDER BY rowid", (*(b for _, b in known), run_id)).fetchall()
    rows = _good(rows) if rows else rows
    if not rows:
        return {}
    try:
        a = np.array(rows, dtype=_CODED_ROW)
    except TypeError:  # a key no CASE names: written since its keys were read
        return None
    # Keys numbered by first appearance, as a row-by-row read finds them; keys that read the
    # same (bytes that are not UTF-8 shown as U+FFFD) are one, as they are there.
    names = [as_text(k) for k, _ in known]
    seen, first = np.unique(a["k"], return_index=True)
    numbered: dict[str, int] = {}
    number = np.zeros(len(known), dtype=np.int64)
    for code in seen[np.argsort(first)].tolist():
        number[code] = numbered.setdefault(names[code], len(numbered))
    return _split(a, number[a["k"]], list(numbered))


def _clamped(values: np.ndarray) -> np.ndarray:
    values[values == DBL_MAX] = np.inf
    values[values == -DBL_MAX] = -np.inf
    return values


_RUN_KEY_INDEX = "index_metrics_run_uuid_key_step"


def _key_sql(con: sqlite3.Connection) -> str:
    """``_KEY_SQL`` through MLflow's (run_uuid, key, step) index where the store has it: SQLite
    took the run's own index instead and read every row of the run for each key (one key of
    100 runs: 527 -> 349 ms, the first plot of a metric)."""
    columns = [row[2] for row in con.execute(f"PRAGMA index_info({_RUN_KEY_INDEX})")]
    if columns[:2] != ["run_uuid", "key"]:
        return _KEY_SQL
    return _KEY_SQL.replace("FROM metrics WHERE", f"FROM metrics INDEXED BY {_RUN_KEY_INDEX} WHERE")


def _run_points(con: sqlite3.Connection, run_id: str, keys: list[str] | None,
                key_sql: str = _KEY_SQL) -> dict[str, Series]:
    out: dict[str, Series] = {}
    if keys is not None and len(keys) <= FEW_KEYS:
        for key in keys:  # through an index of MLflow's (``key_sql``): only this key's rows come back
            rows = con.execute(key_sql, (run_id, key)).fetchall()
            rows = _good(rows) if rows else rows
            if rows:
                a = np.array(rows, dtype=_KEY_ROW)
                out[key] = Series(a["s"], _clamped(a["v"]), a["t"])
        return out
    grouped = _coded(con, run_id)
    if grouped is None:
        rows = con.execute(_RUN_SQL, (run_id,)).fetchall()
        rows = _good(rows) if rows else rows
        grouped = _group(np.array(rows, dtype=_ROW)) if rows else {}
    wanted = None if keys is None else set(keys)
    for key, p in grouped.items():
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
        key_sql = _key_sql(con) if keys is not None and len(keys) <= FEW_KEYS else _KEY_SQL
        out = {}
        for run_id in run_ids:
            series = CACHE.get(str(db), state, run_id, wanted)
            if series is None:
                series = _run_points(con, run_id, keys, key_sql)
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
