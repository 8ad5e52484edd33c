"""Running a SQLAlchemy statement through the driver's own cursor, for big plain results.

Listing 100,000 run ids through the ORM cost about 1 µs a row in result processing on top
of SQLite's own work (measured: 130 ms against 75 ms for the same sorted select). The
statement is still built and compiled by SQLAlchemy (so quoting, operators and bind types
stay its business); only the rows skip its result machinery.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.orm import Session


def sqlite_connection(conn: Connection | Session) -> sqlite3.Connection:
    """The driver's own connection under a SQLAlchemy connection or session (same transaction)."""
    if isinstance(conn, Session):
        conn = conn.connection()
    raw = conn.connection.driver_connection
    assert raw is not None  # a live connection always has its sqlite3 one
    return raw


def rows(session: Session, stmt: Select) -> list[Any]:
    """Every row of ``stmt`` as the driver's tuples, in order."""
    conn = session.connection()
    compiled = stmt.compile(conn)
    params = compiled.construct_params()
    processors: Any = compiled._bind_processors  # the bind types' own conversions (bools, dates)
    args = [
        processors[name](params[name]) if name in processors else params[name]
        for name in compiled.positiontup or ()
    ]
    return sqlite_connection(conn).execute(str(compiled), args).fetchall()


def scalars(session: Session, stmt: Select) -> list[Any]:
    """The first column of every row of ``stmt``, in order."""
    return [row[0] for row in rows(session, stmt)]
