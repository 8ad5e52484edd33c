"""Queries of the cards capability: the records a model card is assembled from, and the
sections people write. Everything returned is a frozen dataclass.

``card_hash`` is the one definition of a card's hash, recorded in the approval log: it
covers the human sections and the facts frozen with the version at registration (model,
artifact, run hash, metrics, datasets). The approval history is not part of it (it records
the hash), nor are facts that may change after registration (the run may leave the index).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labdeck.db import compare, raw, run_listing
from labdeck.db import registry as reg
from labdeck.db.card_tables import CardSection
from labdeck.db.dataset_tables import Dataset, DatasetVersion
from labdeck.db.entities import RunInfo, Series
from labdeck.db.registry import ApprovalEntry, ModelVersionInfo
from labdeck.db.registry_tables import ModelVersion


@dataclass(frozen=True)
class SectionText:
    key: str
    text: str
    updated_by: str
    updated_at: int


@dataclass(frozen=True)
class DatasetRecord:
    """A dataset version a run used, with what labdeck's dataset store knows of it."""

    name: str
    digest: str
    source_type: str
    source: str
    context: str
    version: int | None = None  # None when the digest is not a labdeck dataset version
    total_bytes: int | None = None
    file_count: int | None = None
    created_at: int | None = None


@dataclass(frozen=True)
class SiblingVersion:
    version: int
    state: str
    run_uid: str
    artifact_hash: str
    created_at: int


@dataclass(frozen=True)
class CardRecord:
    """Everything the index holds about one model version, for its card."""

    version: ModelVersionInfo
    run: RunInfo | None  # None when the run has left the index
    provenance: dict
    history: tuple[ApprovalEntry, ...]
    datasets: tuple[DatasetRecord, ...]
    siblings: tuple[SiblingVersion, ...]
    sections: dict[str, SectionText] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)


def _version_row(session: Session, name: str, version: int) -> ModelVersion:
    reg.get_version(session, name, version)  # raises ModelNotFound with the usual message
    return session.execute(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    ).scalar_one()


# Sections ------------------------------------------------------------------------


def sections(session: Session, version_id: int) -> dict[str, SectionText]:
    rows = session.execute(
        select(CardSection).where(CardSection.version_id == version_id).order_by(CardSection.key)
    ).scalars()
    return {r.key: SectionText(r.key, r.text, r.updated_by, r.updated_at) for r in rows}


def set_section(session: Session, version_id: int, key: str, text: str, *, actor: str, time: int) -> bool:
    """Save one section (empty text removes it: a blank section is a missing one). True if it changed."""
    row = session.execute(
        select(CardSection).where(CardSection.version_id == version_id, CardSection.key == key)
    ).scalar_one_or_none()
    if not text.strip():
        if row is None:
            return False
        session.delete(row)
        session.flush()
        return True
    if row is not None and row.text == text:
        return False
    if row is None:
        session.add(CardSection(version_id=version_id, key=key, text=text, updated_by=actor, updated_at=time))
    else:
        row.text, row.updated_by, row.updated_at = text, actor, time
    session.flush()
    return True


def filled_sections(session: Session, version_id: int) -> set[str]:
    return {k for k, s in sections(session, version_id).items() if s.text.strip()}


def card_hash(session: Session, version_id: int) -> str:
    """SHA-256 over the version's human sections and registration facts, as canonical JSON."""
    mv = session.get(ModelVersion, version_id)
    if mv is None:
        raise reg.ModelNotFound(f"no model version with id {version_id}")
    record = {
        "model": mv.name, "version": mv.version, "artifact_hash": mv.artifact_hash, "run_hash": mv.run_hash,
        "metrics": json.loads(mv.metrics), "datasets": json.loads(mv.datasets),
        "sections": {k: s.text for k, s in sections(session, version_id).items() if s.text.strip()},
    }
    payload = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


# The record of a version ------------------------------------------------------------


def _datasets(session: Session, used: tuple[dict, ...]) -> tuple[DatasetRecord, ...]:
    out = []
    for d in used:
        digest = str(d.get("digest") or "")
        row = None
        if digest:
            row = session.execute(
                select(DatasetVersion, Dataset.name).join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                .where(DatasetVersion.digest == digest).order_by(DatasetVersion.id)
            ).first()
        base: dict[str, Any] = {k: str(d.get(k) or "") for k in ("name", "digest", "source_type", "source", "context")}
        if row is not None:
            v, ds_name = row
            out.append(DatasetRecord(**{**base, "name": base["name"] or ds_name}, version=v.version,
                                     total_bytes=v.total_bytes, file_count=v.file_count, created_at=v.created_at))
        else:
            out.append(DatasetRecord(**base))
    return tuple(out)


def card_record(session: Session, name: str, version: int, *, with_series: bool = True) -> CardRecord:
    row = _version_row(session, name, version)
    mv = reg.get_version(session, name, version)
    run = None
    provenance: dict = {}
    series: dict[str, Series] = {}
    if row.run_pk is not None:
        conn = raw.sqlite_connection(session)
        found = run_listing.runs_by_pk(conn, [row.run_pk], with_warnings=False)
        run = found[0] if found else None
        try:
            provenance = json.loads(compare.provenance_texts(conn, [row.run_pk])[row.run_pk])
        except ValueError:
            provenance = {}
        if with_series:
            series = compare.series_of(conn, row.run_pk)
    siblings = tuple(
        SiblingVersion(v.version, v.state, v.run_uid, v.artifact_hash, v.created_at)
        for v in reg.list_versions(session, name)
    )
    return CardRecord(
        version=mv,
        run=run,
        provenance=provenance if isinstance(provenance, dict) else {},
        history=tuple(reg.events(session, name, version)),
        datasets=_datasets(session, mv.datasets),
        siblings=siblings,
        sections=sections(session, row.id),
        series=series,
    )
