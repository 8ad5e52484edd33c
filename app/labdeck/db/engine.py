"""Opening the index: one SQLite file in WAL mode, migrated to head on open.

SQLAlchemy is imported on the first session asked for, not on open: listing runs reads
through plain connections (``db/connection.py``), so `labdeck runs` never loads it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.db import connection
from labdeck.db.lock import writer_lock
from labdeck.db.migrate import needs_upgrade, upgrade_to_head
from labdeck.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker


class IndexOpenError(UserError, RuntimeError):
    """The index file cannot be opened or migrated (the message says why)."""


def _on_connect(dbapi_conn, _record) -> None:
    connection.configure(dbapi_conn)


def make_engine(path: Path) -> Engine:
    from sqlalchemy import URL, create_engine, event

    # Built, not formatted: a folder named "runs #1" or "what?" is a path, not a URL's parts.
    engine = create_engine(URL.create("sqlite", database=str(path)), future=True)
    event.listen(engine, "connect", _on_connect)
    return engine


def _behind(path: Path) -> bool:
    conn = connection.connect(path, create=True)  # a new index's file: it is then behind, with no schema
    try:
        return needs_upgrade(conn)
    finally:
        conn.close()


def upgrade_ahead(path: Path) -> bool:
    """Whether opening the existing index at ``path`` will first upgrade its schema (written by
    an older labdeck): seconds on a big index, worth telling the user. A new index: False."""
    try:
        return Path(path).is_file() and _behind(Path(path))
    except sqlite3.Error:
        return False  # not an index SQLite can read: opening it says so (IndexOpenError)


class Database:
    """The catalogue file with its engine and session factory."""

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        self.path = Path(path)
        self._made_lock = threading.Lock()  # the engine and session factory are made once, on first use
        self._engine: Engine | None = None
        self._session_factory: sessionmaker[Session] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexOpenError(f"cannot create the index folder {self.path.parent}: {exc}") from exc
        if migrate:
            try:
                if _behind(self.path):
                    # One process migrates; another opening the index meanwhile waits for it.
                    with writer_lock(self.path, "migrating the index"):
                        upgrade_to_head(self.engine)
            except Exception as exc:  # noqa: BLE001 - any failure here means an unusable index
                raise IndexOpenError(f"cannot open the index {self.path}: {exc}") from exc

    @property
    def engine(self) -> Engine:
        with self._made_lock:
            if self._engine is None:
                self._engine = make_engine(self.path)
            return self._engine

    def _sessions(self) -> Session:
        if self._session_factory is None:
            from sqlalchemy.orm import sessionmaker

            engine = self.engine
            with self._made_lock:
                if self._session_factory is None:
                    self._session_factory = sessionmaker(engine, expire_on_commit=False)
        return self._session_factory()

    @contextmanager
    def rows(self) -> Iterator[sqlite3.Connection]:
        """A plain connection holding one read transaction (``connection.read_transaction``):
        for the reads written in SQL, without SQLAlchemy."""
        with connection.read_transaction(self.path) as conn:
            yield conn

    @contextmanager
    def write_rows(self) -> Iterator[sqlite3.Connection]:
        """A plain connection holding one write transaction (``connection.write_transaction``):
        for the writes written in SQL, without SQLAlchemy (`labdeck dataset add`)."""
        with connection.write_transaction(self.path) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session
            session.rollback()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
