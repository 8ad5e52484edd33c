"""Alembic, configured from code: the scripts ship inside the package.

Opening an index only asks whether it is behind (``needs_upgrade``); that question is answered
from the migration files' names and one query, without importing Alembic (a tenth of a second
of every CLI verb's start-up). Alembic is imported only to actually migrate.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.M)
_DOWN = re.compile(r'^down_revision\s*=\s*(?:["\']([^"\']+)["\']|None)', re.M)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # For show only (env.py takes the engine itself); '%' doubled, as Alembic's config
    # file syntax reads it (a path with '#' or 'ü' renders percent-encoded).
    cfg.set_main_option("sqlalchemy.url", str(engine.url).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


@cache
def head_revision(_engine: Engine | None = None) -> str:
    """The one revision no migration builds on (read from the scripts' text, as Alembic does)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        rev, down = _REVISION.search(source), _DOWN.search(source)
        if rev:
            revisions.add(rev.group(1))
            if down and down.group(1):
                parents.add(down.group(1))
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads: {heads}")
    return heads[0]


def revision_of(conn: sqlite3.Connection) -> str | None:
    """The index's schema revision (None for a new index)."""
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # a new index
        raise
    return rows[0][0] if len(rows) == 1 else None


def current_revision(engine: Engine) -> str | None:
    from labdeck.db.raw import sqlite_connection

    with engine.connect() as conn:
        return revision_of(sqlite_connection(conn))


def upgrade_to(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def needs_upgrade(conn: sqlite3.Connection) -> bool:
    """Whether the index is behind this labdeck's schema (one small query)."""
    return revision_of(conn) != head_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Upgrade unless already at head (another process may have just done it)."""
    if current_revision(engine) != head_revision():
        upgrade_to(engine, "head")
