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
from sqlalchemy.orm import Session

from labdeck.db import dataset_adding as adding
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
    files = vfiles.load(sqlite_connection(session), v.id).files
    return [FileEntry(p, *files[p]) for p in sorted(files)]


def referenced_objects(session: Session) -> set[str]:
    # A removed row's digest is in its base's rows too: only the present ones count.
    return set(session.scalars(select(DatasetFile.digest).where(DatasetFile.removed.is_(False)).distinct()))


def referenced_manifests(session: Session) -> set[str]:
    return set(session.scalars(select(DatasetVersion.digest).distinct()))


# Writing -------------------------------------------------------------------


def set_rules(session: Session, name: str, now_ms: int, rules: dict | None, strict: bool | None) -> None:
    adding.ensure_dataset(sqlite_connection(session), name, now_ms)
    ds = _dataset_row(session, name)
    if rules is not None:
        ds.rules = json.dumps(rules, sort_keys=True)
    if strict is not None:
        ds.strict = strict


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
        vfiles.detach(sqlite_connection(session), row.id)  # versions stored as changes against it
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
