"""What the runs table needs to show runs as groups or as a tree: each run's value of a
group-by key, and each run's parent run (nested runs: an MLflow sweep's children, and the
other-format sources of one training: ``run_links``).

A key's values, the parents and a metric's values are read as whole columns with one select
each, keeping the rows of the listed runs: at 100,000 runs that is cheaper than an IN-list
of 100,000 keys, and lets a change of grouping reuse the listing already shown. Plain SQL on a
``sqlite3`` connection, like ``run_listing``: the table's first page needs no SQLAlchemy.
"""

from __future__ import annotations

import sqlite3

from labdeck.db import run_links
from labdeck.db.batches import pks_in

ATTRIBUTE_COLUMNS = {
    "experiment": "experiment",
    "status": "status",
    "format": "format",
    "name": "name",
}


def members(conn: sqlite3.Connection, key: str, among: list[int] | None = None) -> list[tuple[str | None, str]]:
    """Each value of ``key`` ("params.lr", "tags.team", "experiment", "project") with the
    pks of every run that has it, as comma-separated text (``group_concat``): a few rows,
    where one row per run cost 60 ms more at 100,000 runs. Runs not listed (deleted,
    filtered out) are among them; the caller keeps the listed ones. ``among``: of these
    runs only, each looked up by its key (what a commit changed)."""
    kind, _, name = key.partition(".")
    if kind in ("params", "tags") and name:
        where = "key = ?" if among is None else f"{pks_in('run_pk', among)} AND +key = ?"
        rows = conn.execute(f"SELECT value, group_concat(run_pk) FROM {kind} WHERE {where} GROUP BY value", (name,))
    elif key == "project":
        where = "" if among is None else f"WHERE {pks_in('runs.pk', among)} "
        rows = conn.execute("SELECT projects.path, group_concat(runs.pk) FROM runs "
                            f"JOIN projects ON projects.id = runs.project_id {where}GROUP BY projects.path")
        return [(path.rstrip("/").rsplit("/", 1)[-1], pks) for path, pks in rows]  # a folder's name, not its path
    elif key in ATTRIBUTE_COLUMNS:
        column = ATTRIBUTE_COLUMNS[key]
        where = "" if among is None else f"WHERE {pks_in('pk', among)} "
        rows = conn.execute(f"SELECT {column}, group_concat(pk) FROM runs {where}GROUP BY {column}")
    else:
        raise ValueError(f"cannot group by {key!r}")
    return rows.fetchall()


def metric_lasts(conn: sqlite3.Connection, key: str, among: list[int] | None = None) -> tuple[list[int], list[float]]:
    """(run pks, last values) of metric ``key``, for every run that logged it (not NaN);
    read from the covering (key, last, run_pk) index alone (``among``: of these runs only)."""
    where = "key = ?" if among is None else f"{pks_in('run_pk', among)} AND +key = ?"
    rows = conn.execute(f"SELECT run_pk, last FROM metrics WHERE {where} AND last IS NOT NULL", (key,)).fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]



def parents(conn: sqlite3.Connection, pks: list[int]) -> dict[int, int]:
    """child pk -> parent pk, for the listed runs whose parent is indexed too (same
    project and format, the parent's own run id named by the child)."""
    # "+ 0": find the parent by its run id (indexed), not among all of its project's runs,
    # which SQLite chose otherwise (a scan of the project per nested run).
    rows = conn.execute(
        "SELECT runs.pk, parent.pk FROM runs JOIN runs AS parent ON parent.project_id + 0 = runs.project_id "
        "AND parent.format = runs.format AND parent.source_id = runs.parent_source_id "
        "WHERE runs.parent_source_id IS NOT NULL"
    ).fetchall()
    if not rows and not _any_linked(conn):
        return {}  # no run names a parent: the listed runs are not made a set (8 ms at 100,000)
    wanted = set(pks)
    found = {child: par for child, par in rows if child in wanted and par in wanted and child != par}
    for child, par in other_sources(conn, wanted).items():
        found.setdefault(child, par)
    return found


def _any_linked(conn: sqlite3.Connection) -> bool:
    """Whether any run names a parent in another format (``other_sources``)."""
    return conn.execute(_LINKED + " LIMIT 1").fetchone() is not None


# The runs that name a parent in another format ("<format>:<run id>"), found through the
# partial index of the runs that name a parent.
_LINKED = ("SELECT pk, project_id, format, parent_source_id FROM runs "
           "WHERE parent_source_id IS NOT NULL AND parent_source_id LIKE '%:%'")


def other_sources(conn: sqlite3.Connection, wanted: set[int]) -> dict[int, int]:
    """child pk -> parent pk among ``wanted`` runs, for a source of the same training in
    another format (run_links): TensorBoard under its Hugging Face output folder, a Lightning
    TensorBoardLogger version under its CSV twin. Such a run is its training's second record,
    not a run of its own: groups count and average trainings."""
    linked = conn.execute(_LINKED)
    children = [row for row in linked if row[0] in wanted]
    return {
        child: par
        for child, (par, _) in run_links.cross_format_parents(conn, children).items()
        if par in wanted
    }
