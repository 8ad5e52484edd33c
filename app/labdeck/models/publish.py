"""Registries by name, pushing approved versions to them, pulling versions back.

The index stores a registry's name and URI only; credentials stay in the environment
or the OS keyring (see ``registries/mlflow.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from labdeck.db import cards as card_q
from labdeck.db import registry as q
from labdeck.db.engine import Database
from labdeck.db.retry import write_again_on_race
from labdeck.db.registry import ModelVersionInfo, PushInfo, RegistryInfo
from labdeck.models import states
from labdeck.models.registries.base import (
    IntegrityError,
    PullResult,
    PushRequest,
    RegistryError,
    check_name,
    open_registry,
)
from labdeck.models.states import TransitionRefused
from labdeck.models.versions import (
    ModelService,
    current_user,
    now_ms,
    parse_ref,
)
from labdeck.tasks import Task


@dataclass(frozen=True)
class PushOutcome:
    push: PushInfo
    created: bool  # False: the registry already had it (pushing again is a no-op)


class Publisher:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.models = ModelService(db)

    # Registries ---------------------------------------------------------------------

    def add_registry(self, name: str, uri: str) -> RegistryInfo:
        check_name(name, "registry name")
        open_registry(uri)  # validates the URI (ValueError says how to write it)
        with self.db.write() as session:
            return q.add_registry(session, name, uri, now_ms())

    def registries(self) -> list[RegistryInfo]:
        with self.db.read() as session:
            return q.list_registries(session)

    def registry(self, name: str) -> RegistryInfo:
        with self.db.read() as session:
            return q.get_registry(session, name)

    # Push ------------------------------------------------------------------------------

    def _metadata(self, mv: ModelVersionInfo) -> dict[str, str]:
        history = [e for e in self.models.history(mv.name, mv.version)]
        approval = [{"action": e.action, "by": e.actor, "time": e.time, "comment": e.comment[:300],
                     "state": e.to_state, "hash": e.entry_hash} for e in history]
        return {
            "labdeck.run_id": mv.run_uid,
            "labdeck.run_hash": mv.run_hash,
            "labdeck.registered_by": mv.registered_by,
            "labdeck.format": mv.model_format,
            "labdeck.card_hash": history[-1].card_hash if history else "",
            "labdeck.metrics": json.dumps(mv.metrics, sort_keys=True, default=str),
            "labdeck.datasets": json.dumps(list(mv.datasets), sort_keys=True),
            "labdeck.approval": json.dumps(approval[-8:], ensure_ascii=False),  # newest steps (tag size limit)
            "labdeck.approval_head": history[-1].entry_hash if history else "",
        }

    def push(self, ref: str, registry_name: str, alias: str = "", task: Task | None = None) -> PushOutcome:
        """Push an approved version. Refused (TransitionRefused/IntegrityError) unless the approval still counts."""
        if alias:
            check_name(alias, "alias")
        mv = self.models.version(ref)
        reg = self.registry(registry_name)
        if mv.state not in states.PUSHABLE:
            raise TransitionRefused(f"rule approved-only: {mv.ref} is {mv.state}; only approved versions are pushed")
        recorded = next((p for p in mv.pushes if p.registry == reg.name), None)
        if recorded is not None and (not alias or alias == recorded.alias):
            return PushOutcome(recorded, created=False)
        audit = self.models.audit(mv.name)
        if not audit.ok:
            raise TransitionRefused(f"rule audit: the approval log of {mv.name} fails its audit "
                                    f"({audit.problems[0]}); nothing is pushed")
        approval = self.models.approval_entry(mv)
        if approval is None or approval.artifact_hash != mv.artifact_hash:
            raise TransitionRefused(f"rule approved-only: {mv.ref} has no approval bound to {mv.artifact_hash}")
        try:
            digest = self.models.rehash(mv, task)
        except FileNotFoundError:
            raise IntegrityError(f"{mv.ref}: the artifact {mv.path} is gone; nothing is pushed") from None
        if digest.hash != approval.artifact_hash:
            raise IntegrityError(f"{mv.ref}: the approval no longer counts: the artifact's bytes changed after "
                                 f"approval ({approval.artifact_hash} -> {digest.hash}); nothing is pushed")
        backend = open_registry(reg.uri)
        request = PushRequest(name=mv.name, local_version=mv.version, root=Path(mv.path), digest=digest,
                              metadata=self._metadata(mv), alias=alias, pushed_by=current_user())
        result = backend.push(request, task)  # re-checks every byte it sends against the approved hashes
        actor = current_user()

        def record() -> PushInfo:
            with self.db.write() as session:
                current = q.get_version(session, mv.name, mv.version)
                info = next((p for p in current.pushes if p.registry == reg.name), None)
                if info is None:
                    info = q.record_push(session, mv.id, registry=reg.name, uri=reg.uri,
                                         remote_version=result.remote_version, artifact_hash=digest.hash,
                                         alias=alias, pushed_by=actor, pushed_at=now_ms())
                elif alias and info.alias != alias:  # pushed before; now (re)named by an alias
                    info = q.set_push_alias(session, mv.id, reg.name, alias)
                if current.state == states.APPROVED:
                    q.append_event(session, mv.id, action="publish", to_state=states.PUBLISHED, actor=actor,
                                   card_hash=card_q.card_hash(session, mv.id), time=now_ms(), comment=f"pushed to {reg.name} ({reg.uri}) as version "
                                                          f"{result.remote_version}")
                return info

        return PushOutcome(write_again_on_race(record), created=result.created)

    # Pull -------------------------------------------------------------------------------

    def recorded_hash(self, name: str, registry: RegistryInfo, remote_version: str) -> str | None:
        """The hash this index recorded when it pushed ``name`` as ``remote_version`` to ``registry``."""
        with self.db.read() as session:
            versions = q.list_versions(session, name)
        return next((p.artifact_hash for mv in versions for p in mv.pushes
                     if p.registry == registry.name and p.uri == registry.uri
                     and p.remote_version == remote_version), None)

    def pull(self, ref: str, registry_name: str, dest: str | Path, task: Task | None = None, *,
             allow_unverified: bool = False) -> PullResult:
        """Fetch ``NAME:VERSION`` (the registry's version number, or NAME:ALIAS) into ``dest``, verified.

        The version must hold the hash this index recorded when it pushed it: a registry is shared
        storage, and a manifest consistent with itself proves nothing. A version this index never
        pushed is refused unless ``allow_unverified`` (then only its own hashes are checked).
        """
        name, sep, version = ref.rpartition(":")
        if not sep or not name or not version:
            parse_ref(ref)  # raises the usual message
        reg = self.registry(registry_name)
        backend = open_registry(reg.uri)
        number = backend.resolve(name, version)
        expected = self.recorded_hash(name, reg, number)
        if expected is None and not allow_unverified:
            raise RegistryError(f"{name}:{number} in {reg.name} was not pushed from this index, so there is no "
                                "recorded hash to check it against; pull it with --unverified to trust the "
                                "registry's own manifest")
        result = backend.pull(name, number, Path(dest), task, expected_hash=expected)
        return replace(result, against_index=expected is not None)


__all__ = ["IntegrityError", "Publisher", "PushOutcome", "RegistryError"]
