"""Reading the catalogue: projects, runs, series and warnings as frozen values."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from labdeck.db import raw, run_links, series_sources
from labdeck.db import series as series_codec
from labdeck.db.batches import batches
from labdeck.db.entities import ProjectInfo, RunInfo, Series, WarningInfo
from labdeck.db.filters import Filter, SortKey, is_project, sort_terms, to_sql, uses_project
from labdeck.db.catalogue_tables import (
    IndexWarning,
    MetricChunk,
    MetricSummary,
    Param,
    Project,
    Run,
    RunInput,
    RunModel,
    RunProvenance,
    Source,
    SourceRegisteredModel,
    Tag,
)
from labdeck.errors import UserError


class RunNotFound(UserError, LookupError):
    pass


class AmbiguousRun(UserError, LookupError):
    pass


def list_projects(session: Session) -> list[ProjectInfo]:
    counts = dict(
        session.execute(
            select(Run.project_id, func.count())
            .where(Run.deleted.is_(False), Run.gone_at.is_(None))
            .group_by(Run.project_id)
        ).all()
    )
    return [
        ProjectInfo(p.id, p.path, p.name, p.added_at, p.scanned_at, counts.get(p.id, 0))
        for p in session.execute(select(Project).order_by(Project.path)).scalars()
    ]


def run_pks(
    session: Session,
    where: Filter | None = None,
    sort: Iterable[SortKey] = (),
    *,
    include_deleted: bool = False,
    project: str | None = None,
    experiment: str | None = None,
) -> list[int]:
    """Primary keys of matching runs in display order (cheap: one indexed query).

    Deleted runs (the tool's lifecycle), runs hidden in labdeck and runs whose files are
    gone come only with ``include_deleted``."""
    stmt = listing(select(Run.pk), where, sort, include_deleted=include_deleted, project=project,
                   experiment=experiment)
    return raw.scalars(session, stmt)


def listing(
    stmt: Select,
    where: Filter | None = None,
    sort: Iterable[SortKey] = (),
    *,
    include_deleted: bool = False,
    project: str | None = None,
    experiment: str | None = None,
) -> Select:
    """``stmt`` (a select of Run columns) narrowed to the matching runs in display order: what
    run_pks lists, for callers that want more columns per run."""
    # Joined to its project only where a project is asked about: every run has one (a
    # cascading foreign key), and the join cost 7% of sorting 100,000 runs.
    if project is not None or uses_project(where) or any(is_project(k.field) for k in sort):
        stmt = stmt.join(Project, Project.id == Run.project_id)
    if not include_deleted:
        stmt = stmt.where(Run.deleted.is_(False), Run.hidden.is_(False), Run.gone_at.is_(None))
    if project is not None:
        stmt = stmt.where(Project.path == project)
    if experiment is not None:
        stmt = stmt.where(Run.experiment == experiment)
    if where is not None:
        stmt = stmt.where(to_sql(where))
    order = []
    for key in sort:
        joins, orders = sort_terms(key)
        for target, onclause in joins:
            stmt = stmt.outerjoin(target, onclause)
        order.extend(orders)
    # "+ 0": ordering through the start_time index looks up each run's row in index order,
    # which measured twice as slow for a whole listing as reading the table and sorting.
    order.extend([(Run.start_time + 0).desc().nulls_last(), Run.pk.desc()])
    return stmt.order_by(*order)


def runs_by_pk(session: Session, pks: list[int], *, with_warnings: bool = True) -> list[RunInfo]:
    """Full runs for ``pks``, in the same order."""
    out: dict[int, RunInfo] = {}
    for part in batches(pks):
        out.update(_load_batch(session, part, with_warnings))
    return [out[pk] for pk in pks if pk in out]


def _load_batch(session: Session, pks: Sequence[int], with_warnings: bool) -> dict[int, RunInfo]:
    params: dict[int, dict[str, str]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, dict] = defaultdict(dict)
    warnings: dict[int, list[WarningInfo]] = defaultdict(list)
    for run_pk, key, value in session.execute(
        select(Param.run_pk, Param.key, Param.value).where(Param.run_pk.in_(pks)).order_by(Param.key)
    ):
        params[run_pk][key] = value
    for run_pk, key, value in session.execute(
        select(Tag.run_pk, Tag.key, Tag.value).where(Tag.run_pk.in_(pks)).order_by(Tag.key)
    ):
        tags[run_pk][key] = value
    # Columns rather than entities here and below: building ORM objects cost about three
    # quarters of listing 1,000 runs (`labdeck runs --json`), and nothing here changes them.
    summary = MetricSummary
    for run_pk, key, *stats in session.execute(
        select(summary.run_pk, summary.key, summary.last, summary.min, summary.max, summary.count,
               summary.last_step).where(summary.run_pk.in_(pks)).order_by(summary.key)
    ):
        metrics[run_pk][key] = series_codec.stats_from_row(*stats)
    inputs: dict[int, list[dict]] = defaultdict(list)
    for i in session.execute(select(RunInput).where(RunInput.run_pk.in_(pks)).order_by(RunInput.id)).scalars():
        inputs[i.run_pk].append(
            {"name": i.name, "digest": i.digest, "source_type": i.source_type, "source": i.source,
             "context": i.context, **json.loads(i.details or "{}")}
        )
    models: dict[int, list[dict]] = defaultdict(list)
    for rm in session.execute(select(RunModel).where(RunModel.run_pk.in_(pks)).order_by(RunModel.id)).scalars():
        models[rm.run_pk].append(
            {"model_id": rm.model_id, "name": rm.name, "artifact_path": rm.artifact_path, "step": rm.step,
             "status": rm.status, **json.loads(rm.details or "{}")}
        )
    rows = session.execute(
        select(*_RUN_COLUMNS, Project.path.label("project_path"))
        .join(Project, Project.id == Run.project_id).where(Run.pk.in_(pks))
    ).all()
    parent_keys = {(r.source_pk, r.project_id, r.format, r.parent_source_id) for r in rows if r.parent_source_id}
    parents = _parent_uids(session, parent_keys)
    other_format = run_links.cross_format_parents(
        session, ((r.pk, r.project_id, r.format, r.parent_source_id) for r in rows if r.parent_source_id)
    )
    uids = {r.pk: r.uid for r in rows}
    if with_warnings:
        for w, project_path in session.execute(
            select(IndexWarning, Project.path)
            .join(Project, Project.id == IndexWarning.project_id)
            .where(IndexWarning.run_pk.in_(pks))
            .order_by(IndexWarning.id)
        ):
            if w.run_pk is not None:  # the query asks for runs' warnings only
                warnings[w.run_pk].append(_warning_info(w, project_path, uids.get(w.run_pk)))
    return {
        r.pk: RunInfo(
            id=r.uid,
            project=r.project_path,
            format=r.format,
            source_id=r.source_id,
            experiment=r.experiment,
            name=r.name,
            status=r.status,
            deleted=bool(r.deleted),
            hidden=bool(r.hidden),
            gone=r.gone_at is not None,
            parent=(parents.get((r.source_pk, r.project_id, r.format, r.parent_source_id))
                    if r.parent_source_id is not None else None)
            or other_format.get(r.pk, (0, None))[1],
            start_time=r.start_time,
            end_time=r.end_time,
            path=r.path,
            params=params.get(r.pk, {}),
            tags=tags.get(r.pk, {}),
            metrics=metrics.get(r.pk, {}),
            warnings=tuple(warnings.get(r.pk, ())),
            inputs=tuple(inputs.get(r.pk, ())),
            models=tuple(models.get(r.pk, ())),
            artifact_dir=r.artifact_dir,
        )
        for r in rows
    }


# What a RunInfo is built from (the columns _load_batch reads by name).
_RUN_COLUMNS = (
    Run.pk, Run.uid, Run.project_id, Run.source_pk, Run.format, Run.source_id, Run.experiment, Run.name,
    Run.status, Run.deleted, Run.hidden, Run.gone_at, Run.parent_source_id, Run.start_time, Run.end_time,
    Run.path, Run.artifact_dir,
)


def _parent_uids(
    session: Session, keys: set[tuple[int, int, str, str]]
) -> dict[tuple[int, int, str, str], str]:
    """(source, project, format, parent's run id) -> the parent's labdeck id.

    A parent is a run of the same project and format with that run id: in the child's own
    source first (an MLflow store's nested runs; two copies of a store hold the same ids),
    else the one such run elsewhere in the project (a native run folder per run). The app's
    tree (``grouping.parents``) puts a run under the same parent."""
    if not keys:
        return {}
    source_ids = {k[3] for k in keys}
    candidates: dict[tuple[int, str, str], list[tuple[int, str]]] = defaultdict(list)
    for source_pk, project_id, fmt, source_id, uid in session.execute(
        select(Run.source_pk, Run.project_id, Run.format, Run.source_id, Run.uid).where(
            Run.source_id.in_(source_ids)
        )
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


def find_run_pk(session: Session, ref: str) -> int:
    """A run by labdeck's id, the tool's own id, or an unambiguous prefix of either.

    An exact id wins over prefixes, so a full id never turns ambiguous when another run's id
    happens to start with it. Every verb that takes a RUN resolves through here."""
    matches = list(session.execute(select(Run.pk).where(or_(Run.uid == ref, Run.source_id == ref))).scalars())
    if not matches and len(ref) >= 4:
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = escaped + "%"
        matches = list(session.execute(
            select(Run.pk).where(or_(Run.uid.like(pattern, escape="\\"),
                                     Run.source_id.like(pattern, escape="\\")))
        ).scalars())
    if not matches:
        raise RunNotFound(f"no run with id {ref!r} in the index")
    if len(matches) > 1:
        raise AmbiguousRun(_ambiguity_message(session, ref, matches))
    return matches[0]


def _ambiguity_message(session: Session, ref: str, pks: list[int]) -> str:
    """The candidates, one a line (labdeck id, format, name), so the user can pick one."""
    rows = session.execute(
        select(Run.uid, Run.format, Run.name).where(Run.pk.in_(pks)).order_by(Run.uid)
    ).all()
    lines = [f"  {uid}  {fmt}  {name}" for uid, fmt, name in rows]
    return f"{ref!r} names {len(rows)} runs; use a longer prefix or labdeck's id:\n" + "\n".join(lines)


def series_for(session: Session, run_pk: int, keys: Iterable[str] | None = None) -> dict[str, Series]:
    """Every point of the run's metrics (all, or ``keys``), in the order logged."""
    wanted = None if keys is None else list(keys)
    in_source = series_sources.load(session, [run_pk], wanted)
    if run_pk in in_source:
        return in_source[run_pk]
    stmt = (
        select(MetricChunk.key, MetricChunk.steps, MetricChunk.values, MetricChunk.walls)
        .where(MetricChunk.run_pk == run_pk)
        .order_by(MetricChunk.key, MetricChunk.seq)
    )
    if wanted is not None:
        stmt = stmt.where(MetricChunk.key.in_(wanted))
    grouped: dict[str, list[tuple[bytes, bytes, bytes]]] = defaultdict(list)
    for key, s, v, w in session.execute(stmt):
        grouped[key].append((s, v, w))
    return {key: series_codec.unpack(chunks) for key, chunks in grouped.items()}


def list_warnings(session: Session, *, project: str | None = None) -> list[WarningInfo]:
    stmt = (
        select(IndexWarning, Project.path, Run.uid)
        .join(Project, Project.id == IndexWarning.project_id)
        .outerjoin(Run, Run.pk == IndexWarning.run_pk)
        .order_by(IndexWarning.id)
    )
    if project is not None:
        stmt = stmt.where(Project.path == project)
    return [_warning_info(w, path, uid) for w, path, uid in session.execute(stmt)]


def _warning_info(w: IndexWarning, project_path: str, run_uid: str | None) -> WarningInfo:
    return WarningInfo(
        id=w.id,
        project=project_path,
        run_id=run_uid,
        path=w.path,
        code=w.code,
        message=w.message,
        transient=bool(w.transient),
        created_at=w.created_at,
    )


def known_keys(session: Session) -> dict[str, list[str]]:
    """Every param, metric and tag name in the index (for completion in the query bar)."""
    return {
        "params": list(session.execute(select(Param.key).distinct().order_by(Param.key)).scalars()),
        "metrics": list(
            session.execute(select(MetricSummary.key).distinct().order_by(MetricSummary.key)).scalars()
        ),
        "tags": list(session.execute(select(Tag.key).distinct().order_by(Tag.key)).scalars()),
    }


def provenance_json(session: Session, run_pk: int) -> str:
    """The run's recorded provenance as JSON text ('{}' when it has none)."""
    return session.execute(
        select(RunProvenance.provenance).where(RunProvenance.run_pk == run_pk)
    ).scalar_one_or_none() or "{}"


def registered_models(session: Session, *, project: str | None = None) -> list[dict]:
    """Model registries found inside sources (MLflow registered models), as plain dicts."""
    stmt = (
        select(SourceRegisteredModel, Source.path, Project.path)
        .join(Source, Source.id == SourceRegisteredModel.source_pk)
        .join(Project, Project.id == Source.project_id)
        .order_by(Project.path, SourceRegisteredModel.name)
    )
    if project is not None:
        stmt = stmt.where(Project.path == project)
    return [
        {"project": project_path, "source": source_path, "name": r.name, **json.loads(r.details or "{}")}
        for r, source_path, project_path in session.execute(stmt)
    ]
