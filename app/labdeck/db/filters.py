"""Run filters and sort keys as plain values, and their translation to SQL.

The query language parser (``labdeck.runs.query``) builds these; only this module knows SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from collections.abc import Callable
from typing import Any, Union

import re2
from sqlalchemy import String, and_, case, false, func, not_, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from labdeck.db.catalogue_tables import MetricSummary, Param, Project, Run, Tag
from labdeck.db.pattern_text import like_containing, required_text
from labdeck.errors import UserError

# Attributes of a run that a query may name directly, with their column.
ATTRIBUTES = {
    "id": Run.uid,
    "name": Run.name,
    "status": Run.status,
    "experiment": Run.experiment,
    "format": Run.format,
    "source_id": Run.source_id,
    "path": Run.path,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
    "project": Project.path,
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


def _compare(column, op: str, value):
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "~":
        must = required_text(value) if isinstance(getattr(column, "type", None), String) else None
        if must is None:
            return func.labdeck_regexp(value, column) == 1
        # LIKE first, in SQLite's code; the pattern only where the text is there (a CASE
        # keeps that order: 100,000 names, `run-1.*7$`: 1 pattern call in 9).
        return case((column.like(like_containing(must), escape="\\"), func.labdeck_regexp(value, column)),
                    else_=0) == 1
    if op == "!~":
        return func.labdeck_regexp(value, column) == 0
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


@lru_cache(maxsize=64)
def _matcher(pattern: str) -> Callable[[bytes], bool]:
    """Whether ``pattern`` occurs in a UTF-8 text. Through google-re2's own binding where it
    is there: its Python search() builds a match object per call, half the time per row."""
    compiled = compile_pattern(pattern)
    binding = getattr(compiled, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if binding is None or anchor is None:
        return lambda data: compiled.search(data) is not None
    return lambda data: binding.Match(anchor, data, 0, len(data))[0][0] != -1


def _regexp(pattern: str, value) -> int | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        matches = _matcher(pattern)
    except PatternError:
        return None  # the parser refuses such patterns before they reach SQL
    return int(matches(text.encode("utf-8", "surrogatepass")))


def register_sql_functions(dbapi_conn) -> None:
    """Functions the filters call in SQL; run on every new SQLite connection."""
    dbapi_conn.create_function("labdeck_regexp", 2, _regexp, deterministic=True)


def to_sql(node: Filter) -> ColumnElement[bool]:
    # Depth is bounded by the parser (parentheses and 'not'); chains are flat tuples.
    if isinstance(node, And):
        return and_(*(to_sql(term) for term in node.terms))
    if isinstance(node, Or):
        return or_(*(to_sql(term) for term in node.terms))
    if isinstance(node, Not):
        return not_(to_sql(node.inner))
    if isinstance(node, Has):
        return _has(node.field)
    return _compare_sql(node)


def _runs_where(model, *conditions) -> ColumnElement[bool]:
    # `pk IN (SELECT run_pk …)` rather than a correlated EXISTS: SQLite runs the inner query
    # once (a range scan of the (key, value) index) instead of one probe per run.
    return Run.pk.in_(select(model.run_pk).where(*conditions))


def _has(field: Field) -> ColumnElement[bool]:
    model: Any = {"params": Param, "tags": Tag, "metrics": MetricSummary}.get(field.kind)
    if model is None:
        return false()
    return _runs_where(model, model.key == field.name)


def _compare_sql(node: Compare) -> ColumnElement[bool]:
    f, op, value = node.field, node.op, node.value
    if f.kind == "attr":
        return _compare(ATTRIBUTES[f.name], op, value)
    if f.kind == "metrics":
        return _runs_where(MetricSummary, MetricSummary.key == f.name, _compare(MetricSummary.last, op, value))
    model: Any = Param if f.kind == "params" else Tag
    column: Any
    if isinstance(value, float) and f.kind == "params" and op not in ("~", "!~"):
        column = Param.value_num
    else:
        column = model.value
        value = value if isinstance(value, str) else _plain(value)
    return _runs_where(model, model.key == f.name, _compare(column, op, value))


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
    return field.kind == "attr" and ATTRIBUTES.get(field.name) is Project.path


def sort_terms(key: SortKey) -> tuple[list[tuple[Any, ColumnElement[bool]]], list]:
    """Outer joins and ORDER BY expressions for a sort key (NULLs always last).

    A param, metric or tag is joined once (its (run_pk, key) primary key makes each probe
    one index lookup) rather than read by a scalar subquery per ordering expression.
    """
    f = key.field
    joins: list[tuple[Any, ColumnElement[bool]]] = []
    if f.kind == "attr":
        columns = [ATTRIBUTES[f.name]]
    else:
        model: Any = {"params": Param, "metrics": MetricSummary, "tags": Tag}[f.kind]
        joined: Any = aliased(model)
        joins.append((joined, and_(joined.run_pk == Run.pk, joined.key == f.name)))
        if f.kind == "params":
            columns = [joined.value_num, joined.value]  # numbers as numbers, then text
        elif f.kind == "metrics":
            columns = [joined.last]
        else:
            columns = [joined.value]
    order = [(c.desc() if key.descending else c.asc()).nulls_last() for c in columns]
    return joins, order
