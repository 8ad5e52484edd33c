"""Each run's place under a sort key, as whole NumPy columns indexed by run pk: what the app's
runs table keeps in memory (``db.listing_orders``) so that re-sorting the listed runs is a
NumPy sort of ranks rather than an SQL sort of every run.

The ranks follow ``filters.sort_terms``'s ORDER BY exactly: one rank column per ORDER BY
column, equal values sharing a rank, NULL (or no such key) ranked ``NULL``. Text is ranked by
SQLite itself (its collation, its ordering of mixed types); numbers by NumPy, faster.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from labdeck.db.filters import ATTRIBUTES, NUMERIC_ATTRIBUTES, Field

NULL = -1


class Unrankable(ValueError):
    """A numeric column holding text, which SQLite orders after every number and NumPy would
    parse: the caller sorts in SQL instead."""


def newest_first(conn: sqlite3.Connection) -> np.ndarray:
    """pk -> rank in the default order (start time, newest first, unknown last; then the
    newest pk first), one distinct rank per run; the array spans every pk in the index."""
    # Ordered by SQLite itself, returned as one row of text: 73 ms at 100,000 runs, where
    # reading (pk, start_time) rows to order them here took 131 ms.
    order = pk_array(conn.execute(
        "SELECT group_concat(pk) FROM (SELECT pk FROM runs ORDER BY start_time + 0 DESC NULLS LAST, pk DESC)"
    ).fetchone()[0])
    ranks = np.full(int(order.max(initial=0)) + 1, NULL, dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def field_ranks(conn: sqlite3.Connection, field: Field, size: int) -> list[np.ndarray]:
    """pk -> rank for each ORDER BY column of ``field`` (``filters.sort_terms``)."""
    out = []
    for column in _columns(field):
        if not column.text:
            rows = conn.execute(f"SELECT {column.pk}, {column.value} FROM {column.rows}", column.params).fetchall()
            out.append(_number_ranks(rows, size))
        elif column.distinct:
            out.append(_window_ranks(conn, column, size))
        else:
            out.append(_grouped_ranks(conn, column, size))
    return out


@dataclass(frozen=True)
class _Column:
    pk: str
    value: str
    rows: str  # "table … WHERE …": the rows with a value (no NULLs)
    params: tuple = ()
    text: bool = True
    distinct: bool = False  # (nearly) one value per run: ranked by a window, not grouped


_DISTINCT_ATTRIBUTES = {"id", "name", "source_id", "path"}


def _columns(field: Field) -> list[_Column]:
    if field.kind == "attr":
        if field.name == "project":
            return [_Column("runs.pk", "projects.path",
                            "runs JOIN projects ON projects.id = runs.project_id WHERE projects.path IS NOT NULL")]
        column = ATTRIBUTES[field.name]
        return [_Column("pk", column, f"runs WHERE {column} IS NOT NULL", text=field.name not in NUMERIC_ATTRIBUTES,
                        distinct=field.name in _DISTINCT_ATTRIBUTES)]
    key = (field.name,)
    if field.kind == "params":
        # Both from the (key, value_num, run_pk) index: the text only of non-numbers, which
        # is all the ORDER BY compares it for (a full read of the values took 0.5 s).
        return [_Column("run_pk", "value_num", "params WHERE key = ? AND value_num IS NOT NULL", key, text=False),
                _Column("run_pk", "value", "params WHERE key = ? AND value_num IS NULL", key)]
    if field.kind == "metrics":
        return [_Column("run_pk", "last", "metrics WHERE key = ? AND last IS NOT NULL", key, text=False)]
    return [_Column("run_pk", "value", "tags WHERE key = ?", key)]


def _grouped_ranks(conn: sqlite3.Connection, column: _Column, size: int) -> np.ndarray:
    """Grouped and ordered by SQLite (its collation, whatever the values' types), one row per
    distinct value: 77 ms for a tag of 100,000 runs where ranking the strings here took 255
    (but 317 ms for 100,000 distinct names, where ranking them here took 185)."""
    rows = conn.execute(
        f"SELECT count(*), group_concat({column.pk}) FROM {column.rows} GROUP BY {column.value} "
        f"ORDER BY {column.value}",
        column.params,
    ).fetchall()
    pks = pk_array(",".join(r[1] for r in rows))
    dense = np.repeat(np.arange(len(rows)), np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
    return _placed(pks, dense, size)


def _window_ranks(conn: sqlite3.Connection, column: _Column, size: int) -> np.ndarray:
    """Ranked by SQLite (``dense_rank``), returned as two rows of text: 230 ms for 100,000
    distinct names, as fast as ranking the strings here, but SQLite leaves the interpreter
    to the GUI thread while it works (ranking them here held it for 60 ms at a time)."""
    pks, dense = conn.execute(
        f"SELECT group_concat(pk), group_concat(r) FROM (SELECT {column.pk} AS pk, "
        f"dense_rank() OVER (ORDER BY {column.value}) - 1 AS r FROM {column.rows})",
        column.params,
    ).fetchone()
    return _placed(pk_array(pks), pk_array(dense), size)


def _number_ranks(rows: list[tuple], size: int) -> np.ndarray:
    """Ranked by NumPy: 76 ms for a metric of 100,000 runs where SQLite's grouping took 181."""
    if not all(type(v) in _NUMERIC for _pk, v in rows):
        # SQLite orders text after every number, where NumPy would parse "1.5".
        raise Unrankable("a numeric column holds text")
    pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    _, dense = np.unique(values, return_inverse=True)
    return _placed(pks, dense.reshape(-1), size)


def _placed(pks: np.ndarray, dense: np.ndarray, size: int) -> np.ndarray:
    ranks = np.full(size, NULL, dtype=np.int64)
    inside = pks < size  # always, in one snapshot; never an index error if not
    ranks[pks[inside]] = dense[inside]
    return ranks


_NUMERIC = (int, float)


def pk_array(text: str | None) -> np.ndarray:
    """``group_concat``'s comma-separated pks as an array (one row of text rather than a row
    per run: 28 ms where 57 ms for 100,000 pks)."""
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)
