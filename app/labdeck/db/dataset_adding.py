"""Adding a dataset version, in plain SQL on the driver's ``sqlite3`` connection.

`labdeck dataset add` runs this and nothing of SQLAlchemy: importing it and its ORM tables
cost the verb about 0.35 s a process (more than the re-add of 10,000 files itself), so a
re-add after a few edits looked slower than it is. The reads take a plain read
transaction, the writes one ``BEGIN IMMEDIATE`` transaction (``connection``).
"""

from __future__ import annotations

import json
import sqlite3

from labdeck.db import dataset_version_files as vfiles
from labdeck.db.dataset_listing import VersionInfo


class VersionConflict(Exception):
    """Another writer took the version number (or created the dataset) first: retry."""


def rules(conn: sqlite3.Connection, name: str) -> tuple[dict, bool] | None:
    """The dataset's validation rules and strict flag; None when there is no such dataset."""
    row = conn.execute("SELECT rules, strict FROM datasets WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    return json.loads(row[0] or "{}"), bool(row[1])


def versions_with_digest(conn: sqlite3.Connection, name: str, digest: str) -> list[int]:
    return [v for (v,) in conn.execute(
        "SELECT v.version FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
        "WHERE d.name = ? AND v.digest = ? ORDER BY v.version",
        (name, digest),
    )]


def ensure_dataset(conn: sqlite3.Connection, name: str, now_ms: int) -> int:
    # A write first, before any read in this transaction: SQLite then takes the write lock
    # (waiting on busy_timeout) instead of failing to upgrade a read snapshot that another
    # writer has moved past; the version number read next is then final.
    conn.execute(
        "INSERT INTO datasets (name, created_at, rules, strict) VALUES (?, ?, '{}', 0) ON CONFLICT (name) DO NOTHING",
        (name, now_ms),
    )
    (dataset_id,) = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
    return dataset_id


def add_version(
    conn: sqlite3.Connection,
    name: str,
    *,
    digest: str,
    now_ms: int,
    message: str,
    source_path: str,
    files: list[tuple[str, int, str]],
) -> VersionInfo:
    """Insert the next version of ``name`` with its (path, size, digest) files, sorted by path.

    Stored as changes against the latest version where that is smaller (caller's transaction).
    """
    try:
        return _add_version(conn, name, digest=digest, now_ms=now_ms, message=message,
                            source_path=source_path, files=files)
    except sqlite3.IntegrityError as exc:
        raise VersionConflict(str(exc)) from exc


def _add_version(
    conn: sqlite3.Connection, name: str, *, digest: str, now_ms: int, message: str, source_path: str,
    files: list[tuple[str, int, str]],
) -> VersionInfo:
    dataset_id = ensure_dataset(conn, name, now_ms)
    (last,) = conn.execute("SELECT max(version) FROM dataset_versions WHERE dataset_id = ?", (dataset_id,)).fetchone()
    # A removed version's number is never given out again: lineage that names it keeps meaning its bytes.
    (last_removed,) = conn.execute(
        "SELECT max(version) FROM dataset_removed_versions WHERE dataset = ?", (name,)).fetchone()
    version = max(last or 0, last_removed or 0) + 1
    total = sum(f[1] for f in files)
    cur = conn.execute(
        "INSERT INTO dataset_versions (dataset_id, version, digest, created_at, message, source_path, "
        "file_count, total_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (dataset_id, version, digest, now_ms, message, source_path, len(files), total),
    )
    version_id = cur.lastrowid
    assert version_id is not None  # an INSERT into a rowid table
    base = None
    if last is not None:
        (base_id,) = conn.execute(
            "SELECT id FROM dataset_versions WHERE dataset_id = ? AND version = ?", (dataset_id, last)).fetchone()
        base = (base_id, vfiles.load(conn, base_id))
    vfiles.write(conn, version_id, files, base)
    return VersionInfo(name, version, digest, now_ms, message, source_path, len(files), total)


# Hash cache ------------------------------------------------------------------


def load_hash_cache(conn: sqlite3.Connection) -> dict[tuple[int, int], tuple[int, int, str]]:
    """{(dev, ino): (size, mtime_ns, digest)}: the whole cache (tens of bytes per file).

    The driver's own tuples: ORM rows for 10,000 entries cost a quarter of a second, and even
    SQLAlchemy's plain rows several times these (measured).
    """
    rows = conn.execute("SELECT dev, ino, size, mtime_ns, digest FROM dataset_hash_cache")
    return {(dev, ino): (size, mtime, digest) for dev, ino, size, mtime, digest in rows}


def save_hash_cache(conn: sqlite3.Connection, entries: list[tuple[int, int, int, int, str]]) -> None:
    """Upsert (dev, ino, size, mtime_ns, digest) rows (one executemany: a multi-row upsert
    built by SQLAlchemy took seconds to compile for 10,000 rows, measured)."""
    if entries:
        conn.executemany(
            "INSERT INTO dataset_hash_cache (dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (dev, ino) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "digest = excluded.digest",
            entries,
        )
