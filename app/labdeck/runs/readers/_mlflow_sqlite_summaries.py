"""Summaries of MLflow SQLite series, computed by SQLite: the index keeps these, not the points.

Handing 2 million metric rows to Python cost about 1 µs each, most of a cold index
(``scripts/bench_readers.py``); SQLite aggregates the same rows in its own loop in about
half that, and the points are read on demand (``load_points``) when plotted.

count, min and max come from one ``GROUP BY`` over a rowid range: every row up to the
snapshot's last rowid on a full read, only the rows past the cursor on a read on (the index
then folds them into what it holds, so a live run costs its new rows, not all of them).
Checking each row's types there doubled its cost (measured), so rows that hold no number are
caught by their effect instead: SQLite orders text and blobs after every number, so such a
row makes a series' raw ``max`` non-numeric, and only that series is summarised again row by
row. The last value is MLflow's own (its ``latest_metrics`` table, the greatest step, then
timestamp, that ``search_runs`` returns) when its step is the series' greatest; otherwise (a
store from before that table, rows written by something else) it is found in the rows.

The rows are grouped as the table holds them, sorted by SQLite. Walking MLflow's (run, key,
step) index instead, which hands them over grouped, took 2.0 s where this takes 3.3 for 2 M
rows, but groups each row by the index's copy of its run and key: a damaged index entry put a
point under another series, unseen (the reader fuzz tests caught it).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable

from labdeck.runs.readers._mlflow_sqlite_series import GOOD_ROW
from labdeck.runs.readers._mlflow_sqlite_store import (
    DBL_MAX,
    as_text,
    is_busy,
    table_names,
)
from labdeck.runs.readers.base import ReadWarning

_VALUE = "CASE WHEN is_nan THEN NULL ELSE value END"
_AGGREGATE = (
    f"SELECT run_uuid, key, count(*), min({_VALUE}), max({_VALUE}), max(value), max(step), max(timestamp)"
    " FROM metrics WHERE rowid > ? AND rowid <= ? {where} GROUP BY run_uuid, key"
)
_NUMBER = f"CASE WHEN {GOOD_ROW} AND NOT is_nan THEN value END"
# One series, row by row (``+key``: through MLflow's run index, never the key-first primary key).
_CHECKED = (
    f"SELECT count(*), sum({GOOD_ROW}), min({_NUMBER}), max({_NUMBER}) FROM metrics"
    " WHERE run_uuid = ? AND +key = ? AND rowid > ? AND rowid <= ?"
)
_LAST_BY_ROWS = (
    f"SELECT {_VALUE}, step, timestamp FROM metrics"
    f" WHERE run_uuid = ? AND +key = ? AND rowid > ? AND rowid <= ? AND {GOOD_ROW}"
    " ORDER BY step DESC, timestamp DESC, rowid DESC LIMIT 1"
)

Summaries = dict[str, dict[str, dict]]  # run id -> key -> summary (MetricSummary columns)


def _number(value: float | None) -> float | None:
    """MLflow's stored value as labdeck shows it: ±DBL_MAX is ±infinity, NaN is None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    if value == DBL_MAX:
        return math.inf
    if value == -DBL_MAX:
        return -math.inf
    return value


def _numeric(*values: object) -> bool:
    return all(type(v) in (int, float) for v in values)


def _latest(con: sqlite3.Connection, run_ids: list[str] | None) -> dict[tuple[str, str], tuple]:
    if "latest_metrics" not in table_names(con):
        return {}
    sql = f"SELECT run_uuid, key, {_VALUE}, step, timestamp FROM latest_metrics"
    if run_ids is None:
        rows = con.execute(sql).fetchall()
    else:
        rows = []
        for i in range(0, len(run_ids), 500):
            part = run_ids[i : i + 500]
            rows += con.execute(f"{sql} WHERE run_uuid IN ({', '.join('?' * len(part))})", part).fetchall()
    return {(rid, key): (value, step, ts) for rid, key, value, step, ts in rows}


def _fold(
    con: sqlite3.Connection, rows: Iterable[tuple], latest: dict, lo: int, hi: int, rel: str
) -> tuple[Summaries, dict[str, list[ReadWarning]], int]:
    out: Summaries = {}
    bad: dict[str, int] = {}
    points = 0
    for rid, key, n, lo_v, hi_v, raw_max, max_step, max_ts in rows:
        good = n
        if not _numeric(raw_max, max_step, max_ts):  # a row that holds no number
            n, good, lo_v, hi_v = con.execute(_CHECKED, (rid, key, lo, hi)).fetchone()
            good = good or 0
            if n != good:
                bad[rid] = bad.get(rid, 0) + n - good
            if not good:
                continue
        last = latest.get((rid, key))
        # MLflow's latest value holds for these rows if it is at their greatest step (on a read
        # on it may be an older row's at that step: the index keeps the later of the two anyway).
        if last is None or last[1] != max_step or not _numeric(last[1], last[2]):
            last = con.execute(_LAST_BY_ROWS, (rid, key, lo, hi)).fetchone()
        if last is None:
            # The table scan counted rows that the lookup by index cannot find: a damaged
            # index page, which SQLite does not report. Said as damage, the salvage reads on.
            raise sqlite3.DatabaseError(f"database disk image is malformed (an index of metrics misses rows "
                                        f"of run {rid})")
        value, step, ts = last
        points += good
        out.setdefault(rid, {})[as_text(key)] = {
            "last": _number(value), "min": _number(lo_v), "max": _number(hi_v), "count": good,
            "last_step": int(step), "last_wall": float(ts),
        }
    warnings = {rid: [ReadWarning(
        "bad-metric-value", f"{n} metric row(s) of run {rid} in {rel} hold no number; skipped", rel)]
        for rid, n in bad.items()}
    return out, warnings, points


def summarise(
    con: sqlite3.Connection, lo: int, hi: int, run_ids: list[str], rel: str
) -> tuple[Summaries, dict[str, list[ReadWarning]], int]:
    """Summaries of the rows with rowid in (``lo``, ``hi``]: (summaries, warnings, points).

    One statement for the range. If it fails (a damaged page), each of ``run_ids`` is tried
    on its own, so the damage costs only the runs whose rows it holds (an
    ``unreadable-metrics`` warning, and no summaries, for those).
    """
    try:
        rows = con.execute(_AGGREGATE.format(where=""), (lo, hi)).fetchall()
    except sqlite3.DatabaseError as exc:
        if is_busy(exc):
            raise  # a busy store: the whole read is retried later
        return _summarise_runs(con, lo, hi, run_ids, rel)
    return _fold(con, rows, _latest(con, None if lo == 0 else sorted({r[0] for r in rows})), lo, hi, rel)


def _summarise_runs(
    con: sqlite3.Connection, lo: int, hi: int, run_ids: list[str], rel: str
) -> tuple[Summaries, dict[str, list[ReadWarning]], int]:
    out: Summaries = {}
    warnings: dict[str, list[ReadWarning]] = {}
    points = 0
    latest = _latest(con, run_ids)
    for rid in run_ids:
        try:
            rows = con.execute(_AGGREGATE.format(where="AND run_uuid = ?"), (lo, hi, rid)).fetchall()
            got, warned, n = _fold(con, rows, latest, lo, hi, rel)
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):
                raise
            warnings[rid] = [ReadWarning(
                "unreadable-metrics", f"metrics of run {rid} in {rel} cannot be read: {exc}", rel)]
            continue
        out.update(got)
        warnings.update(warned)
        points += n
    return out, warnings, points
