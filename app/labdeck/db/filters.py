"""Run filters and sort keys as plain values, and their translation to SQL.

The query language parser (``labdeck.runs.query``) builds these; only this module knows SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from sqlalchemy import and_, false, not_, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from labdeck.db.models import MetricSummary, Param, Project, Run, Tag

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
    left: "Filter"
    right: "Filter"


@dataclass(frozen=True)
class Or:
    left: "Filter"
    right: "Filter"


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
        return column.regexp_match("(?i)" + value)  # SQLite ignores flags=; inline them
    if op == "!~":
        return not_(column.regexp_match("(?i)" + value))
    raise ValueError(f"unknown operator {op}")


def to_sql(node: Filter) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(to_sql(node.left), to_sql(node.right))
    if isinstance(node, Or):
        return or_(to_sql(node.left), to_sql(node.right))
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
    model = {"params": Param, "tags": Tag, "metrics": MetricSummary}.get(field.kind)
    if model is None:
        return false()
    return _runs_where(model, model.key == field.name)


def _compare_sql(node: Compare) -> ColumnElement[bool]:
    f, op, value = node.field, node.op, node.value
    if f.kind == "attr":
        return _compare(ATTRIBUTES[f.name], op, value)
    if f.kind == "metrics":
        return _runs_where(MetricSummary, MetricSummary.key == f.name, _compare(MetricSummary.last, op, value))
    model = Param if f.kind == "params" else Tag
    if isinstance(value, float) and f.kind == "params" and op not in ("~", "!~"):
        column = Param.value_num
    else:
        column = model.value
        value = value if isinstance(value, str) else _plain(value)
    return _runs_where(model, model.key == f.name, _compare(column, op, value))


def _plain(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


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
        model = {"params": Param, "metrics": MetricSummary, "tags": Tag}[f.kind]
        joined = aliased(model)
        joins.append((joined, and_(joined.run_pk == Run.pk, joined.key == f.name)))
        if f.kind == "params":
            columns = [joined.value_num, joined.value]  # numbers as numbers, then text
        elif f.kind == "metrics":
            columns = [joined.last]
        else:
            columns = [joined.value]
    order = [(c.desc() if key.descending else c.asc()).nulls_last() for c in columns]
    return joins, order
