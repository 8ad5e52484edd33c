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


def add_project(session: Session, path: str | os.PathLike) -> tuple[int, bool, str]:
    """Register a folder; returns (project id, created, the project's folder). The folder
    must exist. A folder inside a registered project is that project's already: it is
    returned, not registered again (its runs would be listed twice). A folder holding
    registered projects may be added: its passes leave their folders to them."""
    resolved = normalise(path)
    if not Path(resolved).is_dir():
        raise ProjectError(f"not a folder: {resolved}")
    rows = session.execute(select(Project.id, Project.path)).all()
    holders = [(pid, p) for pid, p in rows if Path(resolved).is_relative_to(p)]
    if holders:
        pid, held_by = max(holders, key=lambda row: len(row[1]))
        return pid, False, held_by
    project = Project(path=resolved, name=Path(resolved).name or resolved, added_at=now_ms())
    session.add(project)
    session.flush()
    return project.id, True, resolved


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
