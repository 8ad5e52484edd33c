"""Reading the catalogue through SQLAlchemy: series, known keys, provenance and registries.

Projects, runs and warnings are listed in plain SQL by ``run_listing``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from labdeck.db import series as series_codec
from labdeck.db import raw, series_sources
from labdeck.db.catalogue_tables import (
    MetricChunk,
    MetricSummary,
    Param,
    Project,
    RunProvenance,
    Source,
    SourceRegisteredModel,
    Tag,
)
from labdeck.db.entities import Series


def series_for(session: Session, run_pk: int, keys: Iterable[str] | None = None) -> dict[str, Series]:
    """Every point of the run's metrics (all, or ``keys``), in the order logged."""
    wanted = None if keys is None else list(keys)
    in_source = series_sources.load(raw.sqlite_connection(session), [run_pk], wanted)
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
