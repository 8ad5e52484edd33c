"""Queries of the models capability: runs to register from, model versions, the approval
chain, registries and pushes. Everything returned is a frozen dataclass.

The approval log is a hash chain per model name: each entry's hash covers its fields and
the previous entry's hash, and ``model_heads`` remembers the newest one, so an edited,
removed or reordered entry no longer verifies (``chain_hash`` is the one definition).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from labdeck.db import raw
from labdeck.db.compare import provenance_texts
from labdeck.db.run_listing import find_run_pk
from labdeck.db.catalogue_tables import MetricSummary, Param, Project, Run, RunModel, Tag
from labdeck.db.registry_tables import (
    ApprovalEvent,
    ModelHead,
    ModelVersion,
    Registry,
    RegistryPush,
)
from labdeck.errors import UserError


class ModelNotFound(UserError, LookupError):
    pass


class RegistryNotFound(UserError, LookupError):
    pass


@dataclass(frozen=True)
class RunForModel:
    pk: int
    uid: str
    name: str
    project: str
    format: str
    source_id: str
    run_dir: str  # absolute: the run's folder (project/path)
    artifact_dir: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)  # last values
    provenance: str = "{}"
    datasets: tuple[dict, ...] = ()
    logged_models: tuple[tuple[str, str], ...] = ()  # (name, local path) the tool recorded (run_models)


@dataclass(frozen=True)
class PushInfo:
    registry: str
    uri: str
    remote_version: str
    artifact_hash: str
    alias: str
    pushed_by: str
    pushed_at: int


@dataclass(frozen=True)
class ModelVersionInfo:
    id: int
    name: str
    version: int
    state: str
    run_uid: str
    run_in_index: bool
    run_hash: str
    project: str
    path: str
    kind: str
    model_format: str
    artifact_hash: str
    size: int
    manifest: tuple[tuple[str, int, str], ...]
    metrics: dict[str, float | None]
    datasets: tuple[dict, ...]
    registered_by: str
    created_at: int
    pushes: tuple[PushInfo, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class ApprovalEntry:
    model_name: str
    seq: int
    version: int
    action: str
    from_state: str
    to_state: str
    actor: str
    time: int
    comment: str
    artifact_hash: str
    card_hash: str
    run_hash: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class RegistryInfo:
    name: str
    uri: str
    added_at: int


# The approval chain ---------------------------------------------------------

CHAIN_FIELDS = (
    "model_name", "seq", "version", "action", "from_state", "to_state", "actor", "time",
    "comment", "artifact_hash", "card_hash", "run_hash", "prev_hash",
)


def chain_hash(fields: dict) -> str:
    """SHA-256 of the entry's fields (previous hash included) as canonical JSON."""
    payload = json.dumps([fields[k] for k in CHAIN_FIELDS], ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append_event(session: Session, version_id: int, *, action: str, to_state: str, actor: str, time: int,
                 comment: str, card_hash: str = "", artifact_hash: str | None = None) -> ApprovalEntry:
    """Append one transition to the model's chain and move the version to ``to_state``."""
    mv = session.get(ModelVersion, version_id)
    if mv is None:
        raise ModelNotFound(f"no model version with id {version_id}")
    head = session.get(ModelHead, mv.name)
    fields: dict[str, Any] = {
        "model_name": mv.name,
        "seq": (head.entries if head else 0) + 1,
        "version": mv.version,
        "action": action,
        "from_state": mv.state,
        "to_state": to_state,
        "actor": actor,
        "time": time,
        "comment": comment,
        "artifact_hash": artifact_hash if artifact_hash is not None else mv.artifact_hash,
        "card_hash": card_hash,
        "run_hash": mv.run_hash,
        "prev_hash": head.head_hash if head else "",
    }
    digest = chain_hash(fields)
    session.add(ApprovalEvent(version_id=version_id, entry_hash=digest, **fields))
    if head is None:
        session.add(ModelHead(name=mv.name, entries=1, head_hash=digest))
    else:
        head.entries += 1
        head.head_hash = digest
    mv.state = to_state
    session.flush()
    return ApprovalEntry(entry_hash=digest, **fields)


def events(session: Session, name: str, version: int | None = None) -> list[ApprovalEntry]:
    stmt = select(ApprovalEvent).where(ApprovalEvent.model_name == name).order_by(ApprovalEvent.seq, ApprovalEvent.id)
    if version is not None:
        stmt = stmt.where(ApprovalEvent.version == version)
    return [
        ApprovalEntry(entry_hash=e.entry_hash, **{k: getattr(e, k) for k in CHAIN_FIELDS})
        for e in session.execute(stmt).scalars()
    ]


def chain_head(session: Session, name: str) -> tuple[int, str] | None:
    head = session.get(ModelHead, name)
    return (head.entries, head.head_hash) if head else None


# Runs -------------------------------------------------------------------------


def _run_inputs(session: Session, run_pk: int) -> tuple[dict, ...]:
    """Dataset versions a run used, from ``run_inputs`` when that table exists (added elsewhere)."""
    if not inspect(session.connection()).has_table("run_inputs"):
        return ()
    rows = session.execute(
        text("SELECT name, digest, source_type, source, context FROM run_inputs WHERE run_pk = :pk ORDER BY name"),
        {"pk": run_pk},
    ).mappings()
    return tuple({k: row[k] for k in ("name", "digest", "source_type", "source", "context")} for row in rows)


def _run_for_model(session: Session, run: Run, project: str) -> RunForModel:
    params = dict(session.execute(select(Param.key, Param.value).where(Param.run_pk == run.pk)).all())
    tags = dict(session.execute(select(Tag.key, Tag.value).where(Tag.run_pk == run.pk)).all())
    metrics = dict(
        session.execute(select(MetricSummary.key, MetricSummary.last).where(MetricSummary.run_pk == run.pk)).all()
    )
    logged = tuple(
        (name, path) for name, path in session.execute(
            select(RunModel.name, RunModel.artifact_path)
            .where(RunModel.run_pk == run.pk, RunModel.artifact_path.is_not(None))
            .order_by(RunModel.id)
        ).all()
        if path and os.path.isabs(path)  # remote URIs (s3://, mlflow-artifacts:) are not on this disk
    )
    return RunForModel(
        pk=run.pk,
        uid=run.uid,
        name=run.name,
        project=project,
        format=run.format,
        source_id=run.source_id,
        run_dir=os.path.join(project, run.path) if run.path else project,
        artifact_dir=run.artifact_dir,
        params=params,
        tags=tags,
        metrics=metrics,
        provenance=provenance_texts(raw.sqlite_connection(session), [run.pk])[run.pk],
        datasets=_run_inputs(session, run.pk),
        logged_models=logged,
    )


def run_for_model(session: Session, ref: str) -> RunForModel:
    pk = find_run_pk(raw.sqlite_connection(session), ref)
    run, project = session.execute(
        select(Run, Project.path).join(Project, Project.id == Run.project_id).where(Run.pk == pk)
    ).one()
    return _run_for_model(session, run, project)


def runs_for_models(session: Session) -> list[RunForModel]:
    """Every indexed run that is neither deleted nor gone, newest first."""
    rows = session.execute(
        select(Run, Project.path).join(Project, Project.id == Run.project_id)
        .where(Run.deleted.is_(False), Run.gone_at.is_(None))
        .order_by(Run.start_time.desc().nulls_last(), Run.pk.desc())
    ).all()
    return [_run_for_model(session, run, project) for run, project in rows]


# Model versions -------------------------------------------------------------


def _push_info(p: RegistryPush) -> PushInfo:
    return PushInfo(p.registry_name, p.uri, p.remote_version, p.artifact_hash, p.alias, p.pushed_by, p.pushed_at)


def _info(session: Session, mv: ModelVersion) -> ModelVersionInfo:
    pushes = tuple(
        _push_info(p) for p in session.execute(
            select(RegistryPush).where(RegistryPush.version_id == mv.id).order_by(RegistryPush.pushed_at)
        ).scalars()
    )
    return ModelVersionInfo(
        id=mv.id,
        name=mv.name,
        version=mv.version,
        state=mv.state,
        run_uid=mv.run_uid,
        run_in_index=mv.run_pk is not None,
        run_hash=mv.run_hash,
        project=mv.project,
        path=mv.path,
        kind=mv.kind,
        model_format=mv.model_format,
        artifact_hash=mv.artifact_hash,
        size=mv.size,
        manifest=tuple((p, int(s), h) for p, s, h in json.loads(mv.manifest)),
        metrics=json.loads(mv.metrics),
        datasets=tuple(json.loads(mv.datasets)),
        registered_by=mv.registered_by,
        created_at=mv.created_at,
        pushes=pushes,
    )


def insert_version(session: Session, *, name: str, state: str, run: RunForModel, run_hash: str, path: str,
                   kind: str, model_format: str, artifact_hash: str, size: int,
                   manifest: list[tuple[str, int, str]], registered_by: str, created_at: int) -> ModelVersionInfo:
    """Version N+1 of ``name`` (numbers start at 1 and never repeat)."""
    latest = session.execute(select(func.max(ModelVersion.version)).where(ModelVersion.name == name)).scalar()
    mv = ModelVersion(
        name=name,
        version=(latest or 0) + 1,
        state=state,
        run_pk=run.pk,
        run_uid=run.uid,
        run_hash=run_hash,
        project=run.project,
        path=path,
        kind=kind,
        model_format=model_format,
        artifact_hash=artifact_hash,
        size=size,
        manifest=json.dumps([list(m) for m in manifest], ensure_ascii=False),
        metrics=json.dumps(run.metrics, allow_nan=True),
        datasets=json.dumps(list(run.datasets), ensure_ascii=False),
        registered_by=registered_by,
        created_at=created_at,
    )
    session.add(mv)
    session.flush()
    return _info(session, mv)


def _find(session: Session, name: str, version: int) -> ModelVersion:
    mv = session.execute(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    ).scalar_one_or_none()
    if mv is None:
        known = session.execute(
            select(ModelVersion.version).where(ModelVersion.name == name).order_by(ModelVersion.version)
        ).scalars().all()
        if not known:
            raise ModelNotFound(f"no model named {name!r} (see: labdeck model list)")
        raise ModelNotFound(f"model {name!r} has no version {version} (versions: {', '.join(map(str, known))})")
    return mv


def get_version(session: Session, name: str, version: int) -> ModelVersionInfo:
    return _info(session, _find(session, name, version))


def list_versions(session: Session, name: str | None = None) -> list[ModelVersionInfo]:
    stmt = select(ModelVersion).order_by(ModelVersion.name, ModelVersion.version)
    if name is not None:
        stmt = stmt.where(ModelVersion.name == name)
    return [_info(session, mv) for mv in session.execute(stmt).scalars()]


# Registries and pushes ------------------------------------------------------------


def add_registry(session: Session, name: str, uri: str, added_at: int) -> RegistryInfo:
    existing = session.execute(select(Registry).where(Registry.name == name)).scalar_one_or_none()
    if existing is not None:
        existing.uri = uri
    else:
        session.add(Registry(name=name, uri=uri, added_at=added_at))
    session.flush()
    return get_registry(session, name)


def get_registry(session: Session, name: str) -> RegistryInfo:
    reg = session.execute(select(Registry).where(Registry.name == name)).scalar_one_or_none()
    if reg is None:
        known = list_registries(session)
        hint = f"known: {', '.join(r.name for r in known)}" if known else "add one with: labdeck registry add NAME URI"
        raise RegistryNotFound(f"no registry named {name!r} ({hint})")
    return RegistryInfo(reg.name, reg.uri, reg.added_at)


def list_registries(session: Session) -> list[RegistryInfo]:
    return [
        RegistryInfo(r.name, r.uri, r.added_at)
        for r in session.execute(select(Registry).order_by(Registry.name)).scalars()
    ]


def record_push(session: Session, version_id: int, *, registry: str, uri: str, remote_version: str,
                artifact_hash: str, alias: str, pushed_by: str, pushed_at: int) -> PushInfo:
    p = RegistryPush(version_id=version_id, registry_name=registry, uri=uri, remote_version=remote_version,
                     artifact_hash=artifact_hash, alias=alias, pushed_by=pushed_by, pushed_at=pushed_at)
    session.add(p)
    session.flush()
    return _push_info(p)



def set_push_alias(session: Session, version_id: int, registry: str, alias: str) -> PushInfo:
    p = session.execute(
        select(RegistryPush).where(RegistryPush.version_id == version_id, RegistryPush.registry_name == registry)
    ).scalar_one()
    p.alias = alias
    session.flush()
    return _push_info(p)
