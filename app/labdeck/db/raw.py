"""Running a SQLAlchemy statement through the driver's own cursor, for big plain results.

Listing 100,000 run ids through the ORM cost about 1 µs a row in result processing on top
of SQLite's own work (measured: 130 ms against 75 ms for the same sorted select). The
statement is still built and compiled by SQLAlchemy (so quoting, operators and bind types
stay its business); only the rows skip its result machinery.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


def scalars(session: Session, stmt: Select) -> list[Any]:
    """The first column of every row of ``stmt``, in order."""
    conn = session.connection()
    compiled = stmt.compile(conn)
    params = compiled.construct_params()
    processors = compiled._bind_processors  # the bind types' own conversions (bools, dates)
    args = [
        processors[name](params[name]) if name in processors else params[name]
        for name in compiled.positiontup or ()
    ]
    cursor = conn.connection.driver_connection.execute(str(compiled), args)
    return [row[0] for row in cursor]
