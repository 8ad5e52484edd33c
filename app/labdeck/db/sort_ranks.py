"""Each run's place under a sort key, as whole NumPy columns indexed by run pk: what the app's
runs table keeps in memory (``db.listing_orders``) so that re-sorting the listed runs is a
NumPy sort of ranks rather than an SQL sort of every run.

The ranks follow ``filters.sort_terms``'s ORDER BY exactly: one rank column per ORDER BY
column, equal values sharing a rank, NULL (or no such key) ranked ``NULL`` (NaN). Text is
ranked by SQLite itself (its collation, its ordering of mixed types); numbers by NumPy,
faster. Each column follows a change to some runs (``patch``) by re-reading only theirs: a
number is placed among the others by NumPy, a new text between its neighbours (a rank
half-way: SQLite's BINARY collation orders UTF-8 as Python orders ``str``).
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass

import numpy as np

from labdeck.db.batches import pks_in
from labdeck.db.filters import ATTRIBUTES, NUMERIC_ATTRIBUTES, Field
from labdeck.db.number_text import numbers

NULL = np.nan  # no value: sorted last in either direction


class Unrankable(ValueError):
    """A numeric column holding text, which SQLite orders after every number and NumPy would
    parse: the caller sorts in SQL instead."""


def _grown(array: np.ndarray, size: int, fill) -> np.ndarray:
    if len(array) >= size:
        return array
    out = np.full(size, fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class NewestFirst:
    """pk -> rank in the default order (start time, newest first, unknown last; then the
    newest pk first), one distinct rank per run; the ranks span every pk in the index."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        pk, starts = exact_numbers(conn, "pk", "start_time + 0", "runs")
        self.size = int(pk.max(initial=0)) + 1
        self._start = np.full(self.size, np.nan)
        self._start[pk] = starts
        start = self._start[pk]
        unknown = np.isnan(start)
        self._order = pk[np.lexsort((-pk, -np.where(unknown, 0, start), unknown))]
        self._ranks: np.ndarray | None = None

    def ranks(self) -> np.ndarray:
        if self._ranks is None:
            self._ranks = np.full(self.size, NULL)
            self._ranks[self._order] = np.arange(len(self._order))
        return self._ranks

    def _key(self, pk) -> tuple:
        start = self._start[pk]
        unknown = bool(np.isnan(start))
        return unknown, 0.0 if unknown else -float(start), -int(pk)

    def patch(self, conn: sqlite3.Connection, changed: np.ndarray, size: int) -> None:
        """Take the changed runs out of the order, and put back those still there where
        their start time places them: a few binary searches, not a sort of every run."""
        self.size = max(self.size, size)
        self._start = _grown(self._start, size, np.nan)
        self._start[changed] = np.nan
        rows = conn.execute(f"SELECT pk, start_time + 0 FROM runs WHERE {pks_in('pk', changed.tolist())}").fetchall()
        for pk, start in rows:
            self._start[pk] = np.nan if start is None else float(start)
        order = self._order[~np.isin(self._order, changed)]
        back = sorted((pk for pk, _ in rows), key=self._key)
        at = [bisect.bisect_left(order, self._key(pk), key=self._key) for pk in back]
        self._order = np.insert(order, at, back)
        self._ranks = None


def field_ranks(conn: sqlite3.Connection, field: Field, size: int) -> list[RankColumn]:
    """pk -> rank for each ORDER BY column of ``field`` (``filters.sort_terms``)."""
    out: list[RankColumn] = []
    for column in _columns(field):
        if not column.text:
            out.append(NumberRanks(conn, column, size))
        elif column.distinct:
            out.append(_window_ranks(conn, column, size))
        else:
            out.append(_grouped_ranks(conn, column, size))
    return out


@dataclass(frozen=True)
class _Column:
    pk: str
    value: str
    table: str  # "table" or "table JOIN …"
    where: str  # what the rows with a value (no NULLs) meet; starts with the key asked for
    params: tuple = ()
    text: bool = True
    distinct: bool = False  # (nearly) one value per run: ranked by a window, not grouped

    @property
    def rows(self) -> str:
        return f"{self.table} WHERE {self.where}"

    def values_of(self, conn: sqlite3.Connection, pks: np.ndarray) -> list[tuple]:
        """(pk, value) of ``pks``, each run's row looked up by its key ("+": not by the
        (key, value) index, which would read every run's)."""
        return conn.execute(f"SELECT {self.pk}, {self.value} FROM {self.table} WHERE {pks_in(self.pk, pks.tolist())} "
                            f"AND +{self.where}", self.params).fetchall()


_DISTINCT_ATTRIBUTES = {"id", "name", "source_id", "path"}


def _columns(field: Field) -> list[_Column]:
    if field.kind == "attr":
        if field.name == "project":
            return [_Column("runs.pk", "projects.path", "runs JOIN projects ON projects.id = runs.project_id",
                            "projects.path IS NOT NULL")]
        column = ATTRIBUTES[field.name]
        return [_Column("pk", column, "runs", f"{column} IS NOT NULL", text=field.name not in NUMERIC_ATTRIBUTES,
                        distinct=field.name in _DISTINCT_ATTRIBUTES)]
    key = (field.name,)
    if field.kind == "params":
        # Both from the (key, value_num, run_pk) index: the text only of non-numbers, which
        # is all the ORDER BY compares it for (a full read of the values took 0.5 s).
        return [_Column("run_pk", "value_num", "params", "key = ? AND value_num IS NOT NULL", key, text=False),
                _Column("run_pk", "value", "params", "key = ? AND value_num IS NULL", key)]
    if field.kind == "metrics":
        return [_Column("run_pk", "last", "metrics", "key = ? AND last IS NOT NULL", key, text=False)]
    return [_Column("run_pk", "value", "tags", "key = ?", key)]


class RankColumn:
    """One ORDER BY column's place of every run (``keys``), following changes (``patch``)."""

    def keys(self, pks: np.ndarray, descending: bool) -> list[np.ndarray]:
        """``np.lexsort`` keys (the last sorted by first) ordering ``pks`` by this column in
        a direction, runs without a value last either way."""
        raise NotImplementedError

    def patch(self, conn: sqlite3.Connection, changed: np.ndarray, size: int) -> bool:
        """Re-read the runs ``changed``; False when this column cannot follow (drop it)."""
        raise NotImplementedError


class NumberRanks(RankColumn):
    """The numbers themselves, sorted by NumPy: 76 ms to read a metric of 100,000 runs where
    SQLite's grouping took 181; a change sets a few values, and nothing is ranked again."""

    def __init__(self, conn: sqlite3.Connection, column: _Column, size: int) -> None:
        self._column = column
        pks, values = exact_numbers(conn, column.pk, column.value, column.rows, column.params)
        self._values = np.full(size, np.nan)  # SQLite stores no NaN: NaN is "no value"
        inside = pks < size  # always, in one snapshot
        self._values[pks[inside]] = values[inside]
        self._infinite = bool(np.isinf(values).any())

    def keys(self, pks: np.ndarray, descending: bool) -> list[np.ndarray]:
        values = self._values[pks]
        unknown = np.isnan(values)
        directed = -values if descending else values
        if not self._infinite:  # one key: no value sorts after every number
            return [np.where(unknown, np.inf, directed)]
        return [np.where(unknown, 0, directed), unknown]

    def patch(self, conn: sqlite3.Connection, changed: np.ndarray, size: int) -> bool:
        rows = self._column.values_of(conn, changed)
        if not _numbers(rows):
            return False
        self._values = _grown(self._values, size, np.nan)
        self._values[changed] = np.nan
        for pk, value in rows:
            self._values[pk] = value
            self._infinite = self._infinite or np.isinf(value)
        return True


_NUMERIC = (int, float)


def _numbers(rows: list[tuple]) -> bool:
    """No text (NULL is no value, not text)."""
    return all(type(v) in _NUMERIC or v is None for _pk, v in rows)


def exact_numbers(conn: sqlite3.Connection, pk: str, value: str, rows: str,
                  params: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    """Each row's pk and value (NaN for NULL), every double exactly; ``Unrankable`` when a
    value is text (SQLite orders text after every number, where NumPy would parse "1.5").

    Integers (start times, epochs, batch sizes) come as two rows of text: 48 ms and 7 ms of
    parsing for 100,000 start times, where SQLite's exact printf took 130 ms and NumPy's
    float parser 35 more. Doubles come as rows: their exact text costs more than the rows.
    """
    # A column whose first value is an integer is read as text, used only when every row holds
    # an integer (each expression more in this pass costs 15-20 ms at 100,000 rows); any
    # other column as rows.
    first = conn.execute(f"SELECT typeof({value}) FROM {rows} LIMIT 1", params).fetchone()
    if first == ("integer",):
        pk_text, value_text, rows_read, integers = conn.execute(
            f"SELECT group_concat({pk}), group_concat({value}), count(*), total(typeof({value}) = 'integer') "
            f"FROM {rows}", params).fetchone()
        if integers == rows_read:
            # As doubles, as SQLite compares an integer with a double (exact to 2**53, and past
            # it as the rows gave them too).
            return pk_array(pk_text), numbers(value_text).astype(np.float64)
    got = conn.execute(f"SELECT {pk}, {value} FROM {rows}", params).fetchall()
    if not _numbers(got):
        raise Unrankable("a numeric column holds text")
    pks = np.fromiter((r[0] for r in got), dtype=np.int64, count=len(got))
    values = np.fromiter((np.nan if r[1] is None else r[1] for r in got), dtype=np.float64, count=len(got))
    return pks, values


class TextRanks(RankColumn):
    """Ranked by SQLite; ``vocabulary`` its distinct values in its order with their ranks,
    which places a value a change brings. A column holding other than text (a foreign
    writer's number in a tag) is ranked all the same, but not followed."""

    def __init__(self, column: _Column, ranks: np.ndarray, vocabulary: list) -> None:
        self._column = column
        self._ranks = ranks
        self._followable = all(type(v) is str for v in vocabulary)
        self._words = vocabulary if self._followable else []
        self._word_ranks = [float(r) for r in range(len(self._words))]
        self._rank_of = dict(zip(self._words, self._word_ranks))

    def keys(self, pks: np.ndarray, descending: bool) -> list[np.ndarray]:
        ranks = self._ranks[pks]
        return [np.where(np.isnan(ranks), np.inf, -ranks if descending else ranks)]

    def patch(self, conn: sqlite3.Connection, changed: np.ndarray, size: int) -> bool:
        if not self._followable:
            return False
        rows = self._column.values_of(conn, changed)
        ranks = _grown(self._ranks, size, NULL)
        ranks[changed] = NULL
        for pk, value in rows:
            if type(value) is not str:
                return False
            rank = self._rank_of.get(value)
            if rank is None:
                rank = self._place(value)
                if rank is None:
                    return False
            ranks[pk] = rank
        self._ranks = ranks
        return True

    def _place(self, word: str) -> float | None:
        """A rank between the neighbours of a value not seen before (None: no room left)."""
        at = bisect.bisect_left(self._words, word)
        below = self._word_ranks[at - 1] if at else (self._word_ranks[0] - 2 if self._words else 0.0)
        above = self._word_ranks[at] if at < len(self._words) else below + 2
        rank = (below + above) / 2
        if not below < rank < above:
            return None
        self._words.insert(at, word)
        self._word_ranks.insert(at, rank)
        self._rank_of[word] = rank
        return rank


def _grouped_ranks(conn: sqlite3.Connection, column: _Column, size: int) -> TextRanks:
    """Grouped and ordered by SQLite (its collation, whatever the values' types), one row per
    distinct value: 77 ms for a tag of 100,000 runs where ranking the strings here took 255
    (but 317 ms for 100,000 distinct names, where ranking them here took 185)."""
    rows = conn.execute(
        f"SELECT {column.value}, count(*), group_concat({column.pk}) FROM {column.rows} GROUP BY {column.value} "
        f"ORDER BY {column.value}",
        column.params,
    ).fetchall()
    pks = pk_array(",".join(r[2] for r in rows))
    dense = np.repeat(np.arange(len(rows)), np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)))
    return TextRanks(column, _placed(pks, dense, size), [r[0] for r in rows])


def _window_ranks(conn: sqlite3.Connection, column: _Column, size: int) -> TextRanks:
    """Ranked by SQLite (``dense_rank``), returned as two rows of text: 230 ms for 100,000
    distinct names, as fast as ranking the strings here, but SQLite leaves the interpreter
    to the GUI thread while it works (ranking them here held it for 60 ms at a time)."""
    pks, dense = conn.execute(
        f"SELECT group_concat(pk), group_concat(r) FROM (SELECT {column.pk} AS pk, "
        f"dense_rank() OVER (ORDER BY {column.value}) - 1 AS r FROM {column.rows})",
        column.params,
    ).fetchone()
    vocabulary = [v for (v,) in conn.execute(
        f"SELECT DISTINCT {column.value} FROM {column.rows} ORDER BY {column.value}", column.params)]
    return TextRanks(column, _placed(pk_array(pks), pk_array(dense), size), vocabulary)


def _placed(pks: np.ndarray, dense: np.ndarray, size: int) -> np.ndarray:
    ranks = np.full(size, NULL)
    inside = pks < size  # always, in one snapshot; never an index error if not
    ranks[pks[inside]] = dense[inside]
    return ranks


def pk_array(text: str | None) -> np.ndarray:
    """``group_concat``'s comma-separated pks as an array (one row of text rather than a row
    per run: 28 ms where 57 ms for 100,000 pks), parsed in slices (``number_text``)."""
    return numbers(text)
