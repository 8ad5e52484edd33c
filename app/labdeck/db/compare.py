"""Read-only queries behind the desktop app's compare, details and diff views.

Everything returned is plain Python values (strings, dicts, numpy arrays), never ORM rows:
results cross threads into Qt models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labdeck.db import series as series_codec
from labdeck.db import raw, series_sources
from labdeck.db.batches import batches
from labdeck.db.entities import Series
from labdeck.db.catalogue_tables import MetricChunk, Project, Run, RunProvenance


def pks_for_uids(session: Session, uids: Iterable[str]) -> dict[str, int]:
    """labdeck run ids to primary keys (unknown ids are left out)."""
    wanted = list(dict.fromkeys(uids))
    found: dict[str, int] = {}
    for part in batches(wanted):
        found.update(
            (uid, pk)
            for uid, pk in session.execute(
                select(Run.uid, Run.pk).where(Run.uid.in_(part))
            )
        )
    return found


def run_folders(
    session: Session, pks: list[int]
) -> dict[int, tuple[str, str, str | None]]:
    """(project folder, run path relative to it, absolute artifact folder or None) per run."""
    out: dict[int, tuple[str, str, str | None]] = {}
    for part in batches(pks):
        stmt = (
            select(Run.pk, Project.path, Run.path, Run.artifact_dir)
            .join(Project, Project.id == Run.project_id)
            .where(Run.pk.in_(part))
        )
        for pk, project, path, artifacts in session.execute(stmt):
            out[pk] = (project, path or "", artifacts)
    return out


def provenance_texts(session: Session, pks: list[int]) -> dict[int, str]:
    """Each run's recorded provenance as JSON text ('{}' when it has none)."""
    out: dict[int, str] = dict.fromkeys(pks, "{}")
    for part in batches(pks):
        for pk, text in session.execute(
            select(RunProvenance.run_pk, RunProvenance.provenance).where(RunProvenance.run_pk.in_(part))
        ):
            out[pk] = text or "{}"
    return out


def series_many(
    session: Session, pks: list[int], keys: Iterable[str]
) -> dict[int, dict[str, Series]]:
    """Every point of metrics ``keys`` for many runs in one query per batch."""
    wanted = list(keys)
    in_source = series_sources.load(raw.sqlite_connection(session), pks, wanted)
    pks = [pk for pk in pks if pk not in in_source]
    grouped: dict[int, dict[str, list[tuple[bytes, bytes, bytes]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for part in batches(pks):
        stmt = (
            select(
                MetricChunk.run_pk,
                MetricChunk.key,
                MetricChunk.steps,
                MetricChunk.values,
                MetricChunk.walls,
            )
            .where(MetricChunk.run_pk.in_(part), MetricChunk.key.in_(wanted))
            .order_by(MetricChunk.run_pk, MetricChunk.key, MetricChunk.seq)
        )
        for pk, key, s, v, w in session.execute(stmt):
            grouped[pk][key].append((s, v, w))
    out = {pk: {k: series_codec.unpack(c) for k, c in per.items()} for pk, per in grouped.items()}
    out.update({pk: per for pk, per in in_source.items() if per})
    return out


def experiments(session: Session) -> list[tuple[str, str, int]]:
    """(project folder, experiment, live run count) for every named experiment."""
    stmt = (
        select(Project.path, Run.experiment, func.count())
        .join(Project, Project.id == Run.project_id)
        .where(Run.deleted.is_(False), Run.gone_at.is_(None), Run.experiment != "")
        .group_by(Project.path, Run.experiment)
        .order_by(Project.path, Run.experiment)
    )
    return [(path, name, int(count)) for path, name, count in session.execute(stmt)]
