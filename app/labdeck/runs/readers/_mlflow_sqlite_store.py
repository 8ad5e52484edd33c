"""Opening MLflow's SQLite store read-only (without ever creating ``-wal``/``-shm`` files),
turning SQLite errors into warnings, and the small query helpers the other modules share."""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from labdeck.runs.readers.base import ReadWarning

DB_NAME = "mlflow.db"
SQLITE_MAGIC = b"SQLite format 3\x00"
CORE_TABLES = frozenset({"experiments", "runs", "metrics", "params", "tags"})
DBL_MAX = float(np.finfo(np.float64).max)  # MLflow stores ±inf as ±DBL_MAX
BUSY_TIMEOUT_S = 2.0


class StoreError(Exception):
    def __init__(self, code: str, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.warning = ReadWarning(code, message, transient=transient)


def _header(db: Path) -> bytes:
    with open(db, "rb") as fh:
        return fh.read(100)


def connect(db: Path) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection and whether it is ``immutable``.

    A WAL database opened ``mode=ro`` creates ``-wal``/``-shm`` next to it when they are
    missing (and cannot delete them again), so then it is opened ``immutable``: with no
    ``-wal`` the main file holds every commit, and no writer is attached."""
    try:
        if not db.is_file():
            raise StoreError("unreadable-file", f"{db.name} is not a regular file")
        header = _header(db)
    except OSError as exc:
        raise StoreError("unreadable-file", f"cannot read {db.name}: {exc.strerror}") from exc
    if not header.startswith(SQLITE_MAGIC):
        raise StoreError("not-sqlite", f"{db.name} is not an SQLite database (bad header)")
    wal_mode = len(header) >= 20 and 2 in (header[18], header[19])
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    immutable = wal_mode and not (wal.exists() and shm.exists())
    path = urllib.parse.quote(db.as_posix(), safe="/:")
    uri = f"file:{path}?mode=ro" + ("&immutable=1" if immutable else "")
    con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    con.execute("PRAGMA temp_store = MEMORY")  # this connection only: no temp files
    con.text_factory = decode_text
    return con, immutable


def decode_text(raw: bytes) -> str:
    """Text as stored; bytes that are not UTF-8 (a damaged page, a foreign writer) are shown
    as U+FFFD instead of failing the whole read."""
    return raw.decode("utf-8", "replace")


def is_busy(exc: sqlite3.Error) -> bool:
    """A writer holds the lock: worth retrying later, unlike a damaged or foreign file."""
    low = str(exc).lower()
    return "locked" in low or "busy" in low


def as_warning(exc: sqlite3.Error, db: Path) -> ReadWarning:
    text = str(exc)
    low = text.lower()
    if is_busy(exc):
        return ReadWarning("db-busy", f"{db.name} is locked by a writer: {text}", transient=True)
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return ReadWarning("corrupt-db", f"{db.name} is damaged: {text}")
    if "unable to open" in low or "disk i/o" in low:
        return ReadWarning("unreadable-file", f"cannot read {db.name}: {text}")
    if "no such" in low:
        return ReadWarning("unsupported-schema", f"{db.name} lacks what MLflow writes: {text}")
    return ReadWarning("read-error", f"reading {db.name} failed: {text}")


def table_names(con: sqlite3.Connection) -> set[str]:
    return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def is_mlflow_db(db: Path) -> bool:
    """An SQLite file with MLflow's tables; one we cannot open yet is claimed (read_on warns)."""
    if not db.is_file():
        return False
    try:
        con, _ = connect(db)
    except StoreError as exc:
        return exc.warning.code == "unreadable-file"
    except sqlite3.Error:
        return True
    try:
        return CORE_TABLES <= table_names(con)
    except (sqlite3.Error, UnicodeDecodeError):  # the latter: SQLite's message quotes damaged bytes
        return True
    finally:
        con.close()


def as_text(value: Any) -> str:
    return value if type(value) is str else ("" if value is None else str(value))


def ms(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and value == value else None


def select_dicts(con: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    cur = con.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def select_kv(con: sqlite3.Connection, sql: str) -> dict[Any, dict[str, str]]:
    out: dict[Any, dict[str, str]] = {}
    for owner, key, value in con.execute(sql):
        out.setdefault(owner, {})[as_text(key)] = as_text(value)
    return out
