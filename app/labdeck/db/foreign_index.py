"""What another index file sharing the dataset store refers to, read without opening it as an index.

``gc`` must keep the objects of every index that uses the store, but must not change those
files: opening one as a ``Database`` would migrate it (an index of an older labdeck, or one
another program has open, rewritten by a gc run from here). So it is read with plain SQLite,
read-only, and whatever schema revision it has: tables or columns it lacks count as empty.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from labdeck.db.dataset_users import pins_from_rows
from labdeck.errors import UserError

BUSY_TIMEOUT_S = 30


class ForeignIndexError(UserError, RuntimeError):
    """That index cannot be read (the message says which and why)."""


@dataclass
class References:
    objects: set[str] = field(default_factory=set)  # object hashes its versions hold
    manifests: set[str] = field(default_factory=set)  # its versions' hashes
    pins: dict[str, list[str]] = field(default_factory=dict)  # version hashes its models and jobs record


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def read_references(path: Path) -> References:
    """The dataset references of the index at ``path``, read-only (ForeignIndexError if unreadable)."""
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise ForeignIndexError(f"cannot read the index {path}: {exc}") from None
    try:
        refs = References()
        files = _columns(con, "dataset_files")
        if files:
            live = " WHERE NOT removed" if "removed" in files else ""  # before deltas, every row is whole
            refs.objects = {d for (d,) in con.execute(f"SELECT DISTINCT digest FROM dataset_files{live}")}
        if _columns(con, "dataset_versions"):
            refs.manifests = {d for (d,) in con.execute("SELECT DISTINCT digest FROM dataset_versions")}
        models = con.execute("SELECT name, version, datasets FROM model_versions").fetchall() \
            if "datasets" in _columns(con, "model_versions") else []
        jobs = con.execute("SELECT id, spec FROM jobs").fetchall() if "spec" in _columns(con, "jobs") else []
        refs.pins = pins_from_rows(models, jobs)
        return refs
    except sqlite3.Error as exc:
        raise ForeignIndexError(f"cannot read the index {path}: {exc}") from None
    finally:
        con.close()
