"""Run filters and sort keys as plain values, and their translation to SQL.

The query language parser (``labdeck.runs.query``) builds these; only this module knows SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from sqlalchemy import and_, exists, false, not_, or_, select
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


def _has(field: Field) -> ColumnElement[bool]:
    model = {"params": Param, "tags": Tag, "metrics": MetricSummary}.get(field.kind)
    if model is None:
        return false()
    return exists().where(model.run_pk == Run.pk, model.key == field.name)


def _compare_sql(node: Compare) -> ColumnElement[bool]:
    f, op, value = node.field, node.op, node.value
    if f.kind == "attr":
        return _compare(ATTRIBUTES[f.name], op, value)
    if f.kind == "metrics":
        cond = _compare(MetricSummary.last, op, value)
        return exists().where(MetricSummary.run_pk == Run.pk, MetricSummary.key == f.name, cond)
    model = Param if f.kind == "params" else Tag
    if isinstance(value, float) and f.kind == "params" and op not in ("~", "!~"):
        column = Param.value_num
    else:
        column = model.value
        value = value if isinstance(value, str) else _plain(value)
    return exists().where(model.run_pk == Run.pk, model.key == f.name, _compare(column, op, value))


def _plain(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def sort_column(key: SortKey):
    """An ORDER BY expression for a sort key (NULLs always last)."""
    f = key.field
    if f.kind == "attr":
        column = ATTRIBUTES[f.name]
    elif f.kind == "metrics":
        column = (
            select(MetricSummary.last)
            .where(MetricSummary.run_pk == Run.pk, MetricSummary.key == f.name)
            .scalar_subquery()
        )
    elif f.kind == "params":
        # Numbers sort as numbers; text values after them, alphabetically.
        num = (
            select(Param.value_num)
            .where(Param.run_pk == Run.pk, Param.key == f.name)
            .scalar_subquery()
        )
        text = select(Param.value).where(Param.run_pk == Run.pk, Param.key == f.name).scalar_subquery()
        order = [num.desc() if key.descending else num.asc(), text.desc() if key.descending else text.asc()]
        return [o.nulls_last() for o in order]
    else:
        column = select(Tag.value).where(Tag.run_pk == Run.pk, Tag.key == f.name).scalar_subquery()
    order = column.desc() if key.descending else column.asc()
    return [order.nulls_last()]
