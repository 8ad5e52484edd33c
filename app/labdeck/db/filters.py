"""Run filters and sort keys as plain values, and their translation to SQL text.

The query language parser (``labdeck.runs.query``) builds these; only this module knows SQL.
The SQL is written here as text with ``?`` parameters rather than built with SQLAlchemy:
listing runs is what `labdeck runs` and the app's first page wait for, and neither should
first import SQLAlchemy (``db/connection.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Union

import re2

from labdeck.db.pattern_text import like_containing, required_text
from labdeck.errors import UserError

# Attributes of a run that a query may name directly, with their column. `project` is the
# one on another table: a filter or sort on it joins `projects` (see ``uses_project``).
ATTRIBUTES = {
    "id": "runs.uid",
    "name": "runs.name",
    "status": "runs.status",
    "experiment": "runs.experiment",
    "format": "runs.format",
    "source_id": "runs.source_id",
    "path": "runs.path",
    "start_time": "runs.start_time",
    "end_time": "runs.end_time",
    "project": "projects.path",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "~", "!~")


@dataclass(frozen=True)
class Field:
    kind: str  # "attr", "params", "metrics" or "tags"
    name: str


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str
    value: str | float


@dataclass(frozen=True)
class Has:
    """`has params.lr`: the run has that key at all."""

    field: Field


@dataclass(frozen=True)
class And:
    """All of ``terms``. A chain ``a and b and c`` is one flat node: no recursion per term."""

    terms: tuple["Filter", ...]


@dataclass(frozen=True)
class Or:
    terms: tuple["Filter", ...]


@dataclass(frozen=True)
class Not:
    inner: "Filter"


Filter = Union[Compare, Has, And, Or, Not]


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool = False


_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")  # the same in SQL


def _compare(column: str, op: str, value, *, text: bool, params: list) -> str:
    """``column op value`` as SQL, its parameters appended to ``params``. ``text``: the
    column holds text (a pattern may then be narrowed by LIKE first)."""
    if op in _COMPARISONS:
        params.append(value)
        return f"{column} {op} ?"
    if op == "~":
        must = required_text(value) if text else None
        if must is None:
            params.append(value)
            return f"labdeck_regexp(?, {column}) = 1"
        # LIKE first, in SQLite's code; the pattern only where the text is there (a CASE
        # keeps that order: 100,000 names, `run-1.*7$`: 1 pattern call in 9).
        params.extend([like_containing(must), value])
        return f"(CASE WHEN {column} LIKE ? ESCAPE '\\' THEN labdeck_regexp(?, {column}) ELSE 0 END) = 1"
    if op == "!~":
        params.append(value)
        return f"labdeck_regexp(?, {column}) = 0"
    raise ValueError(f"unknown operator {op}")


# Regular expressions run on RE2, whose matching time is linear in the text: a pattern
# such as (a+)+$ cannot backtrack for ever over a long name (Python's re can, for minutes).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported to the user, not logged to stderr
_RE2_OPTIONS.never_capture = True


class PatternError(UserError, ValueError):
    """A regular expression RE2 cannot compile (message says why)."""


@lru_cache(maxsize=64)
def compile_pattern(pattern: str):
    """The compiled case-insensitive ``pattern``, cached: SQL calls this once per row, and
    compiling each time took 9 µs a row (0.9 s for a filter over 100,000 run names).
    Look-around and back-references are not RE2 syntax: refused."""
    try:
        return re2.compile(("(?i)" + pattern).encode("utf-8", "surrogatepass"), _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(f"{reason} (RE2 syntax: no look-around or back-references)") from None


# The tables a query's namespaces live in.
_TABLES = {"params": "params", "tags": "tags", "metrics": "metrics"}


def to_sql(node: Filter, params: list, within: str | None = None) -> str:
    """The filter as a SQL condition on `runs` (and `projects` where ``uses_project``), its
    parameters appended to ``params`` in order. ``within``: a condition on ``run_pk`` that
    the runs asked about meet (a few of them: ``db.listing_orders`` asks which of the runs a
    commit changed match), which each lookup of a param, metric or tag then starts from."""
    # Depth is bounded by the parser (parentheses and 'not'); chains are flat tuples.
    if isinstance(node, (And, Or)):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(to_sql(term, params, within) for term in node.terms) + ")"
    if isinstance(node, Not):
        # SQLite's parser has a bounded stack: a chain of `not` cancels in pairs, and an
        # and/or (already in parentheses) gets none more.
        inner, negated = node.inner, True
        while isinstance(inner, Not):
            inner, negated = inner.inner, not negated
        text = to_sql(inner, params, within)
        if not negated:
            return text
        return "NOT " + (text if isinstance(inner, (And, Or)) else f"({text})")
    if isinstance(node, Has):
        return _has(node.field, params, within)
    return _compare_sql(node, params, within)


def _runs_where(table: str, conditions: str, within: str | None) -> str:
    # `pk IN (SELECT run_pk …)` rather than a correlated EXISTS: SQLite runs the inner query
    # once (a range scan of the (key, value) index) instead of one probe per run. Asked
    # about a few runs, "+key" keeps it off that index: each run's row is one search away.
    if within is not None:
        return f"runs.pk IN (SELECT run_pk FROM {table} WHERE {within} AND +{conditions})"
    return f"runs.pk IN (SELECT run_pk FROM {table} WHERE {conditions})"


def _has(field: Field, params: list, within: str | None) -> str:
    table = _TABLES.get(field.kind)
    if table is None:
        return "0"
    params.append(field.name)
    return _runs_where(table, "key = ?", within)


def _compare_sql(node: Compare, params: list, within: str | None) -> str:
    f, op, value = node.field, node.op, node.value
    if f.kind == "attr":
        return _compare(ATTRIBUTES[f.name], op, value, text=f.name not in NUMERIC_ATTRIBUTES, params=params)
    params.append(f.name)
    if f.kind == "metrics":
        return _runs_where("metrics", "key = ? AND " + _compare("last", op, value, text=False, params=params), within)
    if isinstance(value, float) and f.kind == "params" and op not in ("~", "!~"):
        return _runs_where("params", "key = ? AND " + _compare("value_num", op, value, text=False, params=params),
                           within)
    value = value if isinstance(value, str) else _plain(value)
    return _runs_where(_TABLES[f.kind], "key = ? AND " + _compare("value", op, value, text=True, params=params),
                       within)


def _plain(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def uses_project(node: Filter | None) -> bool:
    """Whether the filter asks about the runs' project (its path): a join to projects."""
    if node is None:
        return False
    if isinstance(node, (And, Or)):
        return any(uses_project(term) for term in node.terms)
    if isinstance(node, Not):
        return uses_project(node.inner)
    return is_project(node.field)


def is_project(field: Field) -> bool:
    return field.kind == "attr" and field.name == "project"


def sort_terms(key: SortKey, alias: str, params: list) -> tuple[list[str], list[str]]:
    """Outer joins and ORDER BY terms for a sort key (NULLs always last); the joined table
    is named ``alias``, and the joins' parameters are appended to ``params``.

    A param, metric or tag is joined once (its (run_pk, key) primary key makes each probe
    one index lookup) rather than read by a scalar subquery per ordering expression.
    """
    f = key.field
    joins: list[str] = []
    if f.kind == "attr":
        columns = [ATTRIBUTES[f.name]]
    else:
        joins.append(f"LEFT OUTER JOIN {_TABLES[f.kind]} AS {alias} ON {alias}.run_pk = runs.pk AND {alias}.key = ?")
        params.append(f.name)
        if f.kind == "params":
            # Numbers as numbers (equal numbers tie, however spelt: "1e-3" and "0.001"),
            # then text. The app's in-memory order (db.sort_ranks) is the same.
            columns = [f"{alias}.value_num", f"CASE WHEN {alias}.value_num IS NULL THEN {alias}.value END"]
        elif f.kind == "metrics":
            columns = [f"{alias}.last"]
        else:
            columns = [f"{alias}.value"]
    direction = "DESC" if key.descending else "ASC"
    return joins, [f"{c} {direction} NULLS LAST" for c in columns]
