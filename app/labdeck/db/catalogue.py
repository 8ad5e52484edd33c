"""Reading the catalogue through SQLAlchemy: the model registries found in sources.

Projects, runs and warnings are listed in plain SQL by ``run_listing``; points and provenance
are read by ``compare``."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from labdeck.db.catalogue_tables import (
    Project,
    Source,
    SourceRegisteredModel,
)


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
