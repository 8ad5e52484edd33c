"""The index's SQLite connections: their settings, and plain read connections without SQLAlchemy.

Every connection to the index (SQLAlchemy's pool or a plain one from here) gets the same
settings through ``configure``. The read paths that list runs and projects use plain
``sqlite3`` connections: importing SQLAlchemy and its ORM took about 0.25 s, half of what
`labdeck runs --json` made its user wait (``scripts/bench_cli.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labdeck.db.sql_regexp import register_sql_functions

BUSY_TIMEOUT_MS = 30_000


def configure(dbapi_conn) -> None:
    """The settings every connection to the index runs with."""
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL is crash-safe in WAL mode (a power cut may lose the last commit, never corrupt).
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # A helper thread for big sorts. Measured on 100,000 runs, interleaved: ordering by a
    # param or a metric 178 / 171 -> 153 / 150 ms of SQL; by name, or a filter in start
    # order, 105 / 88 -> 114 / 99 ms (a cheap sort pays for the thread). Two helped no more.
    cur.execute("PRAGMA threads=1")
    # Statement journals (and temporary tables) in memory. A statement that fires triggers
    # (the journal of changed runs, migration 0016) keeps one to undo itself on a failure:
    # as a temporary file, that cost 16 µs a row written (200,000 metric rows 2.1 -> 6.6 s
    # with triggers that did nothing); in memory 2.1 -> 2.6-3.9 s.
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()
    register_sql_functions(dbapi_conn)


def connect(path: Path, *, create: bool = False, shared: bool = False) -> sqlite3.Connection:
    """A configured connection in autocommit mode: transactions are begun explicitly. Only
    with ``create`` may it make the file: a read of an index deleted meanwhile fails (says
    so) rather than leaving an empty index where the user's was. ``shared``: usable from any
    thread, its owner serialising the use (``db.listing_orders``)."""
    target = str(path) if create else Path(path).resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, uri=not create,
                           check_same_thread=not shared)
    try:
        configure(conn)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def read_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh connection holding one read transaction: every query in the block sees the
    same snapshot of the index, however many writers commit meanwhile (WAL)."""
    conn = connect(path)
    try:
        conn.execute("BEGIN")
        yield conn
    finally:
        conn.close()  # closing ends the read transaction; nothing was written


@contextmanager
def write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh connection holding one write transaction, committed when the block ends and
    rolled back on any exception. ``BEGIN IMMEDIATE`` takes the write lock first (waiting up
    to the busy timeout), so a read inside the block is never of a snapshot that another
    writer has moved past."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()
