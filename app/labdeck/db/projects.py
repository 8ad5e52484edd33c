"""Adding and removing watched project folders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from labdeck.db.catalogue_tables import Project
from labdeck.db.writer import now_ms
from labdeck.errors import UserError
from labdeck.paths import normalise


class ProjectError(UserError, ValueError):
    pass


def add_project(session: Session, path: str | os.PathLike) -> tuple[int, bool]:
    """Register a folder; returns (project id, created). The folder must exist."""
    resolved = normalise(path)
    if not Path(resolved).is_dir():
        raise ProjectError(f"not a folder: {resolved}")
    found = session.execute(select(Project.id).where(Project.path == resolved)).scalar_one_or_none()
    if found is not None:
        return found, False
    project = Project(path=resolved, name=Path(resolved).name or resolved, added_at=now_ms())
    session.add(project)
    session.flush()
    return project.id, True


def remove_project(session: Session, path: str | os.PathLike) -> bool:
    """Forget a folder and everything indexed from it (the folder itself is untouched)."""
    resolved = normalise(path)
    result = session.execute(delete(Project).where(Project.path.in_({resolved, str(path)})))
    return cast(CursorResult, result).rowcount > 0


def project_rows(session: Session, path: str | None = None) -> list[tuple[int, str]]:
    stmt = select(Project.id, Project.path).order_by(Project.path)
    if path is not None:
        stmt = stmt.where(Project.path == normalise(path))
    return [(r[0], r[1]) for r in session.execute(stmt)]
