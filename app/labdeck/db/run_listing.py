"""Listing projects and runs as frozen values, in plain SQL on a ``sqlite3`` connection.

What `labdeck runs`, `labdeck projects`, `labdeck show` and the app's first page wait for.
It needs neither SQLAlchemy nor its ORM (``db/connection.py`` says why); a caller holding a
SQLAlchemy session passes its driver connection (``raw.sqlite_connection``), the same
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence

from labdeck.db import run_links
from labdeck.db.batches import batches, pks_in, placeholders
from labdeck.db.entities import ProjectInfo, RunInfo, WarningInfo
from labdeck.db.filters import Filter, SortKey, is_project, sort_terms, to_sql, uses_project
from labdeck.db.pattern_text import like_escaped
from labdeck.db.text_slices import ints
from labdeck.db.series import stats_from_row
from labdeck.errors import UserError


class RunNotFound(UserError, LookupError):
    pass


class AmbiguousRun(UserError, LookupError):
    pass


def list_projects(conn: sqlite3.Connection) -> list[ProjectInfo]:
    counts = dict(conn.execute(
        "SELECT project_id, count(*) FROM runs WHERE deleted IS 0 AND gone_at IS NULL GROUP BY project_id"
    ).fetchall())
    return [
        ProjectInfo(pid, path, name, added_at, scanned_at, counts.get(pid, 0))
        for pid, path, name, added_at, scanned_at in conn.execute(
            "SELECT id, path, name, added_at, scanned_at FROM projects ORDER BY path"
        )
    ]


def known_keys(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Every param, metric and tag name in the index (for completion in the query bar)."""
    return {kind: [key for (key,) in conn.execute(f"SELECT DISTINCT key FROM {kind} ORDER BY key")]
            for kind in ("params", "metrics", "tags")}


def run_pks(
    conn: sqlite3.Connection,
    where: Filter | None = None,
    sort: Iterable[SortKey] = (),
    *,
    include_deleted: bool = False,
    project: str | None = None,
    experiment: str | None = None,
) -> list[int]:
    """Primary keys of matching runs in display order (one indexed query).

    Deleted runs (the tool's lifecycle), runs hidden in labdeck and runs whose files are
    gone come only with ``include_deleted``."""
    sql, params = listing_sql(
        where, sort, include_deleted=include_deleted, project=project, experiment=experiment, ordered=True
    )
    return pks_in_order(conn, sql, params)


def pks_in_order(conn: sqlite3.Connection, sql: str, params: Sequence) -> list[int]:
    """The pks a listing's ``sql`` selects, in its order, read as one row of text.

    Read row by row, SQLite leaves the interpreter's lock and takes it back for every run,
    and each time waits for any other thread running Python to let go of it: a listing of
    100,000 runs took 40 ms alone, 80–150 ms while the GUI thread painted, and seconds
    beside a busy thread. As one aggregate it leaves the lock once. The aggregate takes the
    rows in the listing's order: SQLite never flattens a subquery with an ORDER BY into an
    aggregate (tests compare this with the rows read one by one, for many orders)."""
    (text,) = conn.execute(f"SELECT group_concat(pk) FROM ({sql})", params).fetchone()
    return ints(text)


def listing_sql(
    where: Filter | None,
    sort: Iterable[SortKey] = (),
    *,
    include_deleted: bool = False,
    project: str | None = None,
    experiment: str | None = None,
    ordered: bool,
    among: Sequence[int] | None = None,
) -> tuple[str, list]:
    """``SELECT runs.pk`` of the matching runs, in display order where ``ordered`` (``sort``,
    then the newest first), with its parameters. Unordered, it is what the app's table sorts
    in memory (``db.listing_orders``); ``among``: only which of these runs match (each looked
    up by its key), what the table asks of the runs a commit changed."""
    sort = list(sort) if ordered else []
    joins: list[str] = []
    join_params: list = []
    order: list[str] = []
    for n, key in enumerate(sort):
        key_joins, key_order = sort_terms(key, f"sort{n}", join_params)
        joins.extend(key_joins)
        order.extend(key_order)
    # Joined to its project only where a project is asked about: every run has one (a
    # cascading foreign key), and the join cost 7% of sorting 100,000 runs.
    if project is not None or uses_project(where) or any(is_project(k.field) for k in sort):
        joins.insert(0, "JOIN projects ON projects.id = runs.project_id")
    conditions: list[str] = []
    params: list = []
    if project is not None:
        conditions.append("projects.path = ?")
        params.append(project)
    if experiment is not None:
        conditions.append("runs.experiment = ?")
        params.append(experiment)
    within = None
    if among is not None:
        conditions.insert(0, pks_in("runs.pk", among))
        within = pks_in("run_pk", among)
    if where is not None:
        conditions.append(to_sql(where, params, within))
    every_run_shown = not include_deleted and not conditions and not joins and not sort
    if not include_deleted:
        # Any other listing reads the runs table as before the partial indexes of migration
        # 0017: walking one in its order and looking up each run's row for a sort key or a
        # filter took twice as long (570 against 250–320 ms for a sort of 100,000 runs). The
        # unary "+" keeps SQLite from seeing that the condition matches their own.
        conditions.insert(0, _SHOWN if every_run_shown else _SHOWN_NOT_THROUGH_START_UP_INDEXES)
    if ordered and every_run_shown:
        # Every run shown, newest first (what the app lists when it opens): a walk of the
        # partial index ix_runs_listed_newest, which holds exactly these runs in this order.
        order.extend(["runs.start_time DESC NULLS LAST", "runs.pk DESC"])
    elif ordered:
        # "+ 0": ordering through an index of start times looks up each run's row in index
        # order, which measured twice as slow for a whole listing as reading the table and
        # sorting.
        order.extend(["runs.start_time + 0 DESC NULLS LAST", "runs.pk DESC"])
    sql = " ".join([
        "SELECT runs.pk FROM runs", *joins,
        *(["WHERE " + " AND ".join(conditions)] if conditions else []),
        *(["ORDER BY " + ", ".join(order)] if order else []),
    ])
    return sql, join_params + params


# The runs shown (not deleted, hidden or gone); the second spelling is for listings that must
# not go through the partial indexes (``listing_sql``).
_SHOWN = "runs.deleted IS 0 AND runs.hidden IS 0 AND runs.gone_at IS NULL"
_SHOWN_NOT_THROUGH_START_UP_INDEXES = "+runs.deleted IS 0 AND +runs.hidden IS 0 AND +runs.gone_at IS NULL"


def runs_by_pk(conn: sqlite3.Connection, pks: Sequence[int], *, with_warnings: bool = True) -> list[RunInfo]:
    """Full runs for ``pks``, in the same order."""
    out: dict[int, RunInfo] = {}
    for part in batches(pks):
        out.update(_load_batch(conn, part, with_warnings))
    return [out[pk] for pk in pks if pk in out]


# What a RunInfo is built from, in this order.
_RUN_COLUMNS = (
    "runs.pk, runs.uid, runs.project_id, runs.source_pk, runs.format, runs.source_id, runs.experiment, "
    "runs.name, runs.status, runs.deleted, runs.hidden, runs.gone_at, runs.parent_source_id, "
    "runs.start_time, runs.end_time, runs.path, runs.artifact_dir, projects.path"
)


def _by_run(conn: sqlite3.Connection, sql: str, pks: Sequence[int]) -> list[tuple]:
    """The rows of ``sql`` (a select whose WHERE ends in ``run_pk IN``) for ``pks``."""
    return conn.execute(sql.format(placeholders(pks)), list(pks)).fetchall()


def _load_batch(conn: sqlite3.Connection, pks: Sequence[int], with_warnings: bool) -> dict[int, RunInfo]:
    params: dict[int, dict[str, str]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, dict] = defaultdict(dict)
    inputs: dict[int, list[dict]] = defaultdict(list)
    models: dict[int, list[dict]] = defaultdict(list)
    warnings: dict[int, list[WarningInfo]] = defaultdict(list)
    for run_pk, key, value in _by_run(conn, "SELECT run_pk, key, value FROM params WHERE run_pk IN ({}) ORDER BY key", pks):
        params[run_pk][key] = value
    for run_pk, key, value in _by_run(conn, "SELECT run_pk, key, value FROM tags WHERE run_pk IN ({}) ORDER BY key", pks):
        tags[run_pk][key] = value
    for run_pk, key, *stats in _by_run(
        conn, "SELECT run_pk, key, last, min, max, count, last_step FROM metrics WHERE run_pk IN ({}) ORDER BY key", pks
    ):
        metrics[run_pk][key] = stats_from_row(*stats)
    for run_pk, name, digest, source_type, source, context, details in _by_run(
        conn, "SELECT run_pk, name, digest, source_type, source, context, details FROM run_inputs "
        "WHERE run_pk IN ({}) ORDER BY id", pks
    ):
        inputs[run_pk].append({"name": name, "digest": digest, "source_type": source_type, "source": source,
                               "context": context, **json.loads(details or "{}")})
    for run_pk, model_id, name, artifact_path, step, status, details in _by_run(
        conn, "SELECT run_pk, model_id, name, artifact_path, step, status, details FROM run_models "
        "WHERE run_pk IN ({}) ORDER BY id", pks
    ):
        models[run_pk].append({"model_id": model_id, "name": name, "artifact_path": artifact_path, "step": step,
                               "status": status, **json.loads(details or "{}")})
    rows = _by_run(
        conn, f"SELECT {_RUN_COLUMNS} FROM runs JOIN projects ON projects.id = runs.project_id "
        "WHERE runs.pk IN ({})", pks
    )
    parents = _parent_uids(conn, {(r[3], r[2], r[4], r[12]) for r in rows if r[12]})
    other_format = run_links.cross_format_parents(conn, ((r[0], r[2], r[4], r[12]) for r in rows if r[12]))
    if with_warnings:
        uids = {r[0]: r[1] for r in rows}
        for w in _by_run(conn, _WARNINGS.format("") + " WHERE warnings.run_pk IN ({}) ORDER BY warnings.id", pks):
            warnings[w[1]].append(_warning_info(w, uids.get(w[1])))
    out = {}
    for (pk, uid, project_id, source_pk, fmt, source_id, experiment, name, status, deleted, hidden, gone_at,
         parent_source_id, start_time, end_time, path, artifact_dir, project_path) in rows:
        parent = parents.get((source_pk, project_id, fmt, parent_source_id)) if parent_source_id else None
        out[pk] = RunInfo(
            id=uid,
            project=project_path,
            format=fmt,
            source_id=source_id,
            experiment=experiment,
            name=name,
            status=status,
            deleted=bool(deleted),
            hidden=bool(hidden),
            gone=gone_at is not None,
            parent=parent or other_format.get(pk, (0, None))[1],
            start_time=start_time,
            end_time=end_time,
            path=path,
            params=params.get(pk, {}),
            tags=tags.get(pk, {}),
            metrics=metrics.get(pk, {}),
            warnings=tuple(warnings.get(pk, ())),
            inputs=tuple(inputs.get(pk, ())),
            models=tuple(models.get(pk, ())),
            artifact_dir=artifact_dir,
        )
    return out


def _parent_uids(
    conn: sqlite3.Connection, keys: set[tuple[int, int, str, str]]
) -> dict[tuple[int, int, str, str], str]:
    """(source, project, format, parent's run id) -> the parent's labdeck id.

    A parent is a run of the same project and format with that run id: in the child's own
    source first (an MLflow store's nested runs; two copies of a store hold the same ids),
    else the one such run elsewhere in the project (a native run folder per run). The app's
    tree (``grouping.parents``) puts a run under the same parent."""
    if not keys:
        return {}
    candidates: dict[tuple[int, str, str], list[tuple[int, str]]] = defaultdict(list)
    for part in batches(sorted({k[3] for k in keys})):
        for source_pk, project_id, fmt, source_id, uid in conn.execute(
            f"SELECT source_pk, project_id, format, source_id, uid FROM runs WHERE source_id IN ({placeholders(part)})",
            part,
        ):
            candidates[(project_id, fmt, source_id)].append((source_pk, uid))
    found = {}
    for key in keys:
        source_pk, project_id, fmt, parent_id = key
        options = candidates.get((project_id, fmt, parent_id), [])
        same_source = [uid for pk, uid in options if pk == source_pk]
        if same_source:
            found[key] = same_source[0]
        elif len(options) == 1:
            found[key] = options[0][1]
    return found


def find_run_pk(conn: sqlite3.Connection, ref: str) -> int:
    """A run by labdeck's id, the tool's own id, or an unambiguous prefix of either.

    An exact id wins over prefixes, so a full id never turns ambiguous when another run's id
    happens to start with it. Every verb that takes a RUN resolves through here."""
    matches = [pk for (pk,) in conn.execute("SELECT pk FROM runs WHERE uid = ? OR source_id = ?", (ref, ref))]
    if not matches and len(ref) >= 4:
        pattern = like_escaped(ref) + "%"
        matches = [pk for (pk,) in conn.execute(
            "SELECT pk FROM runs WHERE uid LIKE ? ESCAPE '\\' OR source_id LIKE ? ESCAPE '\\'", (pattern, pattern)
        )]
    if not matches:
        raise RunNotFound(f"no run with id {ref!r} in the index")
    if len(matches) > 1:
        raise AmbiguousRun(_ambiguity_message(conn, ref, matches))
    return matches[0]


def _ambiguity_message(conn: sqlite3.Connection, ref: str, pks: list[int]) -> str:
    """The candidates, one a line (labdeck id, format, name), so the user can pick one."""
    rows = _by_run(conn, "SELECT uid, format, name FROM runs WHERE pk IN ({}) ORDER BY uid", pks)
    lines = [f"  {uid}  {fmt}  {name}" for uid, fmt, name in rows]
    return f"{ref!r} names {len(rows)} runs; use a longer prefix or labdeck's id:\n" + "\n".join(lines)


# A warning with its project's path (the caller knows or joins its run's uid).
_WARNINGS = (
    "SELECT warnings.id, warnings.run_pk, projects.path, warnings.path, warnings.code, warnings.message, "
    "warnings.transient, warnings.created_at{} FROM warnings JOIN projects ON projects.id = warnings.project_id"
)


def list_warnings(conn: sqlite3.Connection, *, project: str | None = None) -> list[WarningInfo]:
    sql = _WARNINGS.format(", runs.uid") + " LEFT OUTER JOIN runs ON runs.pk = warnings.run_pk"
    if project is not None:
        sql += " WHERE projects.path = ?"
    rows = conn.execute(sql + " ORDER BY warnings.id", [project] if project is not None else [])
    return [_warning_info(row[:-1], row[-1]) for row in rows]


def _warning_info(row: tuple, run_uid: str | None) -> WarningInfo:
    wid, _run_pk, project_path, path, code, message, transient, created_at = row
    return WarningInfo(id=wid, project=project_path, run_id=run_uid, path=path, code=code, message=message,
                       transient=bool(transient), created_at=created_at)
