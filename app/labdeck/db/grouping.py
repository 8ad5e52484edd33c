"""What the runs table needs to show runs as groups or as a tree: each run's value of a
group-by key, and each run's parent run (nested runs: an MLflow sweep's children, and the
other-format sources of one training: ``run_links``).

The values come with the listing itself (one query); parents and a metric's values are
read as whole columns with one indexed select each, keeping the rows of the listed runs: at
100,000 runs that is cheaper than an IN-list of 100,000 keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, aliased

from labdeck.db import catalogue, raw, run_links
from labdeck.db.filters import Filter, SortKey
from labdeck.db.catalogue_tables import MetricSummary, Param, Project, Run, Tag

ATTRIBUTE_COLUMNS = {
    "experiment": Run.experiment,
    "status": Run.status,
    "format": Run.format,
    "name": Run.name,
}
NO_VALUE = "(none)"


def listed_with_values(
    session: Session, key: str, where: Filter | None, sort: Iterable[SortKey], **scope: Any
) -> tuple[list[int], list[str]]:
    """The runs ``catalogue.run_pks`` lists (same filter, scope and order) with each one's
    value of ``key`` ("params.lr", "tags.team", "experiment", "project"); runs without one
    get ``NO_VALUE``. One query: the values ride along with the listing."""
    kind, _, name = key.partition(".")
    stmt: Select
    if kind in ("params", "tags") and name:
        table: Any = aliased(Param if kind == "params" else Tag)
        stmt = select(Run.pk, table.value).outerjoin(table, and_(table.run_pk == Run.pk, table.key == name))
    elif key == "project":
        stmt = select(Run.pk, Project.path)  # listing() joins Project
    elif key in ATTRIBUTE_COLUMNS:
        stmt = select(Run.pk, ATTRIBUTE_COLUMNS[key])
    else:
        raise ValueError(f"cannot group by {key!r}")
    rows = raw.rows(session, catalogue.listing(stmt, where, sort, **scope))
    pks = [row[0] for row in rows]
    if key == "project":  # a folder's name, not its path
        names = {path: path.rstrip("/").rsplit("/", 1)[-1] for path in {row[1] for row in rows}}
        return pks, [names[row[1]] or NO_VALUE for row in rows]
    return pks, [row[1] or NO_VALUE for row in rows]


def metric_lasts(session: Session, key: str) -> tuple[list[int], list[float]]:
    """(run pks, last values) of metric ``key``, for every run that logged it (not NaN);
    read from the covering (key, last, run_pk) index alone."""
    stmt = select(MetricSummary.run_pk, MetricSummary.last).where(
        MetricSummary.key == key, MetricSummary.last.is_not(None)
    )
    rows = raw.rows(session, stmt)
    return [r[0] for r in rows], [r[1] for r in rows]


def parents(session: Session, pks: list[int]) -> dict[int, int]:
    """child pk -> parent pk, for the listed runs whose parent is indexed too (same
    project and format, the parent's own run id named by the child)."""
    parent = aliased(Run)
    stmt = select(Run.pk, parent.pk).join(
        parent,
        and_(
            # "+ 0": find the parent by its run id (indexed), not among all of its project's
            # runs, which SQLite chose otherwise (a scan of the project per nested run).
            parent.project_id + 0 == Run.project_id,
            parent.format == Run.format,
            parent.source_id == Run.parent_source_id,
        ),
    ).where(Run.parent_source_id.is_not(None))
    wanted = set(pks)
    found = {
        child: par
        for child, par in raw.rows(session, stmt)
        if child in wanted and par in wanted and child != par
    }
    # A source of the same training in another format (run_links): TensorBoard under its
    # Hugging Face output folder, a Lightning TensorBoardLogger version under its CSV twin.
    linked = select(Run.pk, Run.project_id, Run.format, Run.parent_source_id).where(
        Run.parent_source_id.is_not(None), Run.parent_source_id.like("%:%")  # the partial index
    )
    children = [row for row in raw.rows(session, linked) if row[0] in wanted]
    for child, (par, _) in run_links.cross_format_parents(session, children).items():
        if par in wanted:
            found.setdefault(child, par)
    return found
