"""What the runs table needs to show runs as groups or as a tree: each run's value of a
group-by key, and each run's parent run (nested runs: an MLflow sweep's children, and the
other-format sources of one training: ``run_links``).

A key's values, the parents and a metric's values are read as whole columns with one select
each, keeping the rows of the listed runs: at 100,000 runs that is cheaper than an IN-list
of 100,000 keys, and lets a change of grouping reuse the listing already shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, aliased

from labdeck.db import raw, run_links
from labdeck.db.catalogue_tables import MetricSummary, Param, Project, Run, Tag

ATTRIBUTE_COLUMNS = {
    "experiment": Run.experiment,
    "status": Run.status,
    "format": Run.format,
    "name": Run.name,
}


def members(session: Session, key: str) -> list[tuple[str | None, str]]:
    """Each value of ``key`` ("params.lr", "tags.team", "experiment", "project") with the
    pks of every run that has it, as comma-separated text (``group_concat``): a few rows,
    where one row per run cost 60 ms more at 100,000 runs. Runs not listed (deleted,
    filtered out) are among them; the caller keeps the listed ones."""
    kind, _, name = key.partition(".")
    stmt: Select
    if kind in ("params", "tags") and name:
        table: Any = Param if kind == "params" else Tag
        stmt = select(table.value, func.group_concat(table.run_pk)).where(table.key == name).group_by(table.value)
    elif key == "project":
        stmt = select(Project.path, func.group_concat(Run.pk)).join(Project, Project.id == Run.project_id)
        stmt = stmt.group_by(Project.path)
    elif key in ATTRIBUTE_COLUMNS:
        stmt = select(ATTRIBUTE_COLUMNS[key], func.group_concat(Run.pk)).group_by(ATTRIBUTE_COLUMNS[key])
    else:
        raise ValueError(f"cannot group by {key!r}")
    rows = raw.rows(session, stmt)
    if key == "project":  # a folder's name, not its path
        return [(path.rstrip("/").rsplit("/", 1)[-1], pks) for path, pks in rows]
    return [(value, pks) for value, pks in rows]


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
    for child, par in other_sources(session, wanted).items():
        found.setdefault(child, par)
    return found


def other_sources(session: Session, wanted: set[int]) -> dict[int, int]:
    """child pk -> parent pk among ``wanted`` runs, for a source of the same training in
    another format (run_links): TensorBoard under its Hugging Face output folder, a Lightning
    TensorBoardLogger version under its CSV twin. Such a run is its training's second record,
    not a run of its own: groups count and average trainings."""
    linked = select(Run.pk, Run.project_id, Run.format, Run.parent_source_id).where(
        Run.parent_source_id.is_not(None), Run.parent_source_id.like("%:%")  # the partial index
    )
    children = [row for row in raw.rows(session, linked) if row[0] in wanted]
    return {
        child: par
        for child, (par, _) in run_links.cross_format_parents(raw.sqlite_connection(session), children).items()
        if par in wanted
    }
