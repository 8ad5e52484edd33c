"""Dataset rows: reading and writing datasets, versions, files, rules, the hash cache, lineage.

Everything returned is a frozen dataclass (safe to hand to other threads and Qt models).
A version and its file rows are written in one transaction, so a crash leaves either the
whole version or none of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labdeck.db import dataset_listing as listing
from labdeck.db import dataset_version_files as vfiles
from labdeck.db.batches import batches
from labdeck.db.dataset_tables import (
    Dataset,
    DatasetFile,
    DatasetVersion,
    RemovedDatasetVersion,
)
from labdeck.db.catalogue_tables import Run, RunInput
from labdeck.db.dataset_listing import DatasetNotFound, VersionInfo
from labdeck.db.raw import sqlite_connection


class VersionConflict(Exception):
    """Another writer took the version number (or created the dataset) first: retry."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    digest: str


@dataclass(frozen=True)
class RunUse:
    """A run that used a dataset version (from the run_inputs table)."""

    run_id: str
    run_name: str
    dataset: str
    version: int | None
    digest: str
    context: str


def _version_info(name: str, v: DatasetVersion) -> VersionInfo:
    return VersionInfo(name, v.version, v.digest, v.created_at, v.message, v.source_path, v.file_count, v.total_bytes)


def _dataset_row(session: Session, name: str) -> Dataset:
    row = session.get(Dataset, listing.dataset_id(sqlite_connection(session), name))
    assert row is not None  # just found by its name, in this transaction
    return row


def _removed_note(session: Session, name: str, version: int) -> str | None:
    """Why ``name`` has no ``version`` when ``dataset rm`` removed it, else None."""
    row = session.scalar(
        select(RemovedDatasetVersion).where(RemovedDatasetVersion.dataset == name,
                                            RemovedDatasetVersion.version == version)
    )
    if row is None:
        return None
    when = datetime.fromtimestamp(row.removed_at / 1000).strftime("%Y-%m-%d %H:%M")
    how = "labdeck dataset rm --force, while in use" if row.forced else "labdeck dataset rm"
    return f"version {version} of {name!r} (hash {row.digest[:12]}) was removed on {when} ({how})"


def _version_row(session: Session, name: str, version: int) -> DatasetVersion:
    # A number past SQLite's 64-bit integers names no version (binding it would overflow).
    in_range = -(2**63) <= version < 2**63
    if in_range and not dataset_exists(session, name) and (note := _removed_note(session, name, version)):
        raise DatasetNotFound(note)  # the whole dataset went: say what became of this version
    ds = _dataset_row(session, name)
    row = session.scalar(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id, DatasetVersion.version == version)
    ) if in_range else None
    if row is None:
        note = _removed_note(session, name, version) if in_range else None
        if note:
            raise DatasetNotFound(note)
        last = session.scalar(select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == ds.id))
        raise DatasetNotFound(f"dataset {name!r} has no version {version} (latest: {last or 'none'})")
    return row


# Reading -------------------------------------------------------------------


def dataset_exists(session: Session, name: str) -> bool:
    return session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None


def list_versions(session: Session, name: str) -> list[VersionInfo]:
    return listing.list_versions(sqlite_connection(session), name)


def get_version(session: Session, name: str, version: int | None = None) -> VersionInfo:
    """One version; ``None`` means the latest."""
    if version is None:
        versions = list_versions(session, name)
        if not versions:
            raise DatasetNotFound(f"dataset {name!r} has no versions")
        return versions[-1]
    return _version_info(name, _version_row(session, name, version))


def version_files(session: Session, name: str, version: int) -> list[FileEntry]:
    v = _version_row(session, name, version)
    files = vfiles.load(session.connection(), v.id).files
    return [FileEntry(p, *files[p]) for p in sorted(files)]


def versions_with_digest(session: Session, name: str, digest: str) -> list[int]:
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        return []
    return list(
        session.scalars(
            select(DatasetVersion.version).where(DatasetVersion.dataset_id == ds.id, DatasetVersion.digest == digest)
        )
    )


def referenced_objects(session: Session) -> set[str]:
    # A removed row's digest is in its base's rows too: only the present ones count.
    return set(session.scalars(select(DatasetFile.digest).where(DatasetFile.removed.is_(False)).distinct()))


def referenced_manifests(session: Session) -> set[str]:
    return set(session.scalars(select(DatasetVersion.digest).distinct()))


def get_rules(session: Session, name: str) -> tuple[dict, bool]:
    ds = _dataset_row(session, name)
    return json.loads(ds.rules or "{}"), ds.strict


# Writing -------------------------------------------------------------------


def ensure_dataset(session: Session, name: str, now_ms: int) -> int:
    # A write first, before any read in this transaction: SQLite then takes the write lock
    # (waiting on busy_timeout) instead of failing to upgrade a read snapshot that another
    # writer has moved past; the version number read next is then final.
    session.connection().exec_driver_sql(
        "INSERT INTO datasets (name, created_at, rules, strict) VALUES (?, ?, '{}', 0) ON CONFLICT (name) DO NOTHING",
        (name, now_ms),
    )
    dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == name))
    assert dataset_id is not None  # inserted just above, or there already
    return dataset_id


def set_rules(session: Session, name: str, now_ms: int, rules: dict | None, strict: bool | None) -> None:
    ensure_dataset(session, name, now_ms)
    ds = _dataset_row(session, name)
    if rules is not None:
        ds.rules = json.dumps(rules, sort_keys=True)
    if strict is not None:
        ds.strict = strict


def add_version(
    session: Session,
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
        return _add_version(session, name, digest=digest, now_ms=now_ms, message=message,
                            source_path=source_path, files=files)
    except IntegrityError as exc:
        raise VersionConflict(str(exc)) from exc


def _add_version(
    session: Session, name: str, *, digest: str, now_ms: int, message: str, source_path: str,
    files: list[tuple[str, int, str]],
) -> VersionInfo:
    dataset_id = ensure_dataset(session, name, now_ms)
    last = session.scalar(select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset_id))
    # A removed version's number is never given out again: lineage that names it keeps meaning its bytes.
    last_removed = session.scalar(
        select(func.max(RemovedDatasetVersion.version)).where(RemovedDatasetVersion.dataset == name))
    v = DatasetVersion(
        dataset_id=dataset_id,
        version=max(last or 0, last_removed or 0) + 1,
        digest=digest,
        created_at=now_ms,
        message=message,
        source_path=source_path,
        file_count=len(files),
        total_bytes=sum(f[1] for f in files),
    )
    session.add(v)
    session.flush()
    conn = session.connection()
    base = None
    if last is not None:
        base_id = session.scalar(
            select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == last)
        )
        assert base_id is not None  # the latest version, read in this transaction
        base = (base_id, vfiles.load(conn, base_id))
    vfiles.write(conn, v.id, files, base)
    session.expire(v, ["base_id"])  # written by plain SQL
    return _version_info(name, v)


def remove(session: Session, name: str, version: int | None = None, *, now_ms: int,
           users: dict[int, list[dict]] | None = None) -> int:
    """Delete a dataset (all versions) or one version; returns how many versions went.

    Each removed version is remembered (``dataset_removed_versions``) with ``users[version]``,
    who used it then; a version removed while used is marked forced. Lineage rows (runs'
    inputs, model versions, job specs) hold names and hashes, not keys: they stay as they are.
    """
    users = users or {}
    if version is not None:
        row = _version_row(session, name, version)
        _remember(session, name, [row], now_ms, users)
        vfiles.detach(session.connection(), row.id)  # versions stored as changes against it
        session.execute(delete(DatasetFile).where(DatasetFile.version_id == row.id))
        session.delete(row)
        return 1
    ds = _dataset_row(session, name)
    rows = list(session.scalars(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)))
    _remember(session, name, rows, now_ms, users)
    ids = [r.id for r in rows]
    for part in batches(ids):
        session.execute(delete(DatasetFile).where(DatasetFile.version_id.in_(part)))
    session.execute(delete(DatasetVersion).where(DatasetVersion.dataset_id == ds.id))
    session.delete(ds)
    return len(ids)


def _remember(session: Session, name: str, rows: list[DatasetVersion], now_ms: int,
              users: dict[int, list[dict]]) -> None:
    for row in rows:
        used = users.get(row.version, [])
        session.add(RemovedDatasetVersion(dataset=name, version=row.version, digest=row.digest, removed_at=now_ms,
                                          forced=bool(used), users=json.dumps(used, ensure_ascii=False)))
    session.flush()



# Hash cache ------------------------------------------------------------------


def load_hash_cache(session: Session) -> dict[tuple[int, int], tuple[int, int, str]]:
    """{(dev, ino): (size, mtime_ns, digest)}: the whole cache (tens of bytes per file).

    The driver's own tuples: ORM rows for 10,000 entries cost a quarter of a second, and even
    SQLAlchemy's plain rows several times these (measured).
    """
    raw = sqlite_connection(session)
    rows = raw.execute("SELECT dev, ino, size, mtime_ns, digest FROM dataset_hash_cache")
    return {(dev, ino): (size, mtime, digest) for dev, ino, size, mtime, digest in rows}


def save_hash_cache(session: Session, entries: list[tuple[int, int, int, int, str]]) -> None:
    """Upsert (dev, ino, size, mtime_ns, digest) rows.

    A plain executemany: a multi-row upsert built by SQLAlchemy took seconds to compile for
    10,000 rows (measured), this takes milliseconds.
    """
    if entries:
        session.connection().exec_driver_sql(
            "INSERT INTO dataset_hash_cache (dev, ino, size, mtime_ns, digest) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (dev, ino) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "digest = excluded.digest",
            entries,
        )


def purge_hash_cache(session: Session) -> int:
    """Forget cached hashes whose content no version holds (gc is about to remove those objects)."""
    result = session.connection().exec_driver_sql(
        "DELETE FROM dataset_hash_cache WHERE digest NOT IN (SELECT digest FROM dataset_files WHERE NOT removed)"
    )
    return result.rowcount


# Lineage ---------------------------------------------------------------------


def _parse_source(source: str) -> tuple[str, int | None]:
    name, _, version = source.rpartition(":")
    try:
        return name, int(version)
    except ValueError:
        return source, None


def runs_using(session: Session, name: str, version: int | None = None) -> list[RunUse]:
    """Runs whose recorded inputs name this dataset (and version, matched by digest)."""
    stmt = (
        select(Run.uid, Run.name, RunInput.source, RunInput.digest, RunInput.context)
        .join(Run, Run.pk == RunInput.run_pk)
        .where(RunInput.source_type == "labdeck")
    )
    if version is not None:
        stmt = stmt.where(RunInput.digest == _version_row(session, name, version).digest)
    else:
        digests = [v.digest for v in list_versions(session, name)]
        stmt = stmt.where(RunInput.digest.in_(digests) if digests else RunInput.name == name)
    out = []
    for uid, run_name, source, digest, context in session.execute(stmt.order_by(Run.pk)):
        ds_name, ver = _parse_source(source)
        out.append(RunUse(uid, run_name, ds_name, ver, digest, context))
    return out


def inputs_of_run(session: Session, run_pk: int) -> list[RunUse]:
    """The labdeck dataset versions one run used."""
    stmt = (
        select(Run.uid, Run.name, RunInput.source, RunInput.digest, RunInput.context)
        .join(Run, Run.pk == RunInput.run_pk)
        .where(RunInput.run_pk == run_pk, RunInput.source_type == "labdeck")
        .order_by(RunInput.id)
    )
    out = []
    for uid, run_name, source, digest, context in session.execute(stmt):
        ds_name, ver = _parse_source(source)
        out.append(RunUse(uid, run_name, ds_name, ver, digest, context))
    return out
