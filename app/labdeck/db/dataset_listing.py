"""Listing datasets and their versions as frozen values, in plain SQL on a ``sqlite3`` connection.

What `labdeck dataset list` and the Datasets tab's list wait for: like ``run_listing``, it
needs neither SQLAlchemy nor its ORM (``db/connection.py`` says why). ``db/datasets.py``
writes datasets and answers the rest.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from labdeck.errors import UserError


class DatasetNotFound(UserError, LookupError):
    pass


@dataclass(frozen=True)
class VersionInfo:
    dataset: str
    version: int
    digest: str
    created_at: int
    message: str
    source_path: str
    file_count: int
    total_bytes: int


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    created_at: int
    versions: int
    latest: VersionInfo | None
    strict: bool
    has_rules: bool


_VERSION_COLUMNS = "version, digest, created_at, message, source_path, file_count, total_bytes"


def dataset_id(conn: sqlite3.Connection, name: str) -> int:
    """The dataset's row id; DatasetNotFound says whether ``dataset rm`` removed it."""
    row = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return row[0]
    (removed,) = conn.execute("SELECT count(*) FROM dataset_removed_versions WHERE dataset = ?", (name,)).fetchone()
    if removed:
        raise DatasetNotFound(f"dataset {name!r} was removed (labdeck dataset rm); its {removed} version(s) "
                              "are no longer in the index")
    raise DatasetNotFound(f"no dataset named {name!r} (labdeck dataset list shows them)")


def list_versions(conn: sqlite3.Connection, name: str) -> list[VersionInfo]:
    rows = conn.execute(
        f"SELECT {_VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = ? ORDER BY version",
        (dataset_id(conn, name),),
    )
    return [VersionInfo(name, *row) for row in rows]


def list_datasets(conn: sqlite3.Connection) -> list[DatasetInfo]:
    versions: dict[int, list[VersionInfo]] = {}
    names = dict(conn.execute("SELECT id, name FROM datasets").fetchall())
    for ds_id, *row in conn.execute(
        f"SELECT dataset_id, {_VERSION_COLUMNS} FROM dataset_versions ORDER BY dataset_id, version"
    ):
        versions.setdefault(ds_id, []).append(VersionInfo(names[ds_id], *row))
    out = []
    for ds_id, name, created_at, strict, rules in conn.execute(
        "SELECT id, name, created_at, strict, rules FROM datasets ORDER BY name"
    ):
        mine = versions.get(ds_id, [])
        out.append(DatasetInfo(name, created_at, len(mine), mine[-1] if mine else None, bool(strict),
                               rules not in ("", "{}")))
    return out


def all_version_refs(conn: sqlite3.Connection) -> dict[str, list[tuple[int, str]]]:
    """{dataset: [(version, digest), ...]} for the store's name → digest files."""
    out: dict[str, list[tuple[int, str]]] = {}
    for name, version, digest in conn.execute(
        "SELECT datasets.name, dataset_versions.version, dataset_versions.digest FROM datasets "
        "JOIN dataset_versions ON dataset_versions.dataset_id = datasets.id "
        "ORDER BY datasets.name, dataset_versions.version"
    ):
        out.setdefault(name, []).append((version, digest))
    return out


def use_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """{version digest: number of runs that used it}."""
    return dict(conn.execute(
        "SELECT digest, count(DISTINCT run_pk) FROM run_inputs WHERE source_type = 'labdeck' GROUP BY digest"
    ).fetchall())
