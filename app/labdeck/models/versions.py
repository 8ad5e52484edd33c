"""Model versions and their approval workflow: the operations the CLI verbs and the Models view share.

Long steps (hashing a big model) take a ``Task``; everything returned is a frozen value.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from labdeck import settings
from labdeck.clock import now_ms
from labdeck.db import cards as card_q
from labdeck.db import registry as q
from labdeck.db.engine import Database
from labdeck.db.retry import write_again_on_race
from labdeck.db.registry import ApprovalEntry, ModelVersionInfo, RunForModel
from labdeck.models import hashing, states
from labdeck.models.discovery import (
    MODEL_SUFFIXES,
    Candidate,
    find_candidates,
    folder_format,
    sdk_models,
)
from labdeck.models.policy import load_policy
from labdeck.models.registries.base import check_name
from labdeck.models.states import TransitionRefused
from labdeck.tasks import Task


def current_user() -> str:
    """Who acts: ``LABDECK_USER``, else labdeck's ``user`` setting, else the OS user."""
    user = os.environ.get("LABDECK_USER", "").strip()
    if user:
        return user
    try:
        configured = (settings.get("user") or "").strip()
    except settings.SettingsError:
        configured = ""  # an unreadable settings file must not block approvals; the OS user stands in
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def parse_ref(ref: str) -> tuple[str, int]:
    """``NAME:VERSION`` -> (name, version)."""
    name, sep, version = ref.rpartition(":")
    if not sep or not name or not version.isdigit():
        raise ValueError(f"bad model version {ref!r}: write NAME:VERSION, e.g. mnist:3")
    if int(version) >= 2**63:  # past SQLite's integers: a user error, not an OverflowError
        raise ValueError(f"bad model version {ref!r}: the version number is out of range")
    return name, int(version)


def run_hash(run: RunForModel) -> str:
    """A hash of what the run recorded (identity, params, metrics, provenance) when the model was registered."""
    try:
        provenance = json.loads(run.provenance or "{}")
    except ValueError:
        provenance = run.provenance
    record = {"id": run.uid, "format": run.format, "source_id": run.source_id, "params": run.params,
              "metrics": run.metrics, "provenance": provenance, "datasets": list(run.datasets)}
    payload = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RunCandidate:
    run_id: str
    run_name: str
    candidate: Candidate


@dataclass(frozen=True)
class AuditReport:
    name: str
    entries: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class ModelService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # Discovery and registration -------------------------------------------------

    def candidates(self, run_ref: str | None = None, task: Task | None = None) -> list[RunCandidate]:
        with self.db.read() as session:
            runs = [q.run_for_model(session, run_ref)] if run_ref else q.runs_for_models(session)
        out: list[RunCandidate] = []
        for i, run in enumerate(runs):
            if task:
                task.check()
                task.report(i, len(runs), f"looking for models in {run.name}")
            out.extend(RunCandidate(run.uid, run.name, c)
                       for c in find_candidates(run.run_dir, run.artifact_dir, run.logged_models))
        return out

    def _resolve(self, run: RunForModel, path: str) -> Path:
        p = Path(path).expanduser()
        tries = [p] if p.is_absolute() else [Path(run.run_dir) / p] + (
            [Path(run.artifact_dir) / p] if run.artifact_dir else [])
        for t in tries:
            if t.exists():
                return t.resolve()
        raise FileNotFoundError(f"no model at {path!r} in run {run.uid} (looked in: "
                                f"{', '.join(str(t) for t in tries)}); list candidates with: labdeck model candidates {run.uid}")

    @staticmethod
    def _format_of(run: RunForModel, p: Path) -> str:
        try:
            rel = p.relative_to(Path(run.run_dir).resolve()).as_posix()
        except ValueError:
            rel = None
        if rel is not None and rel in sdk_models(Path(run.run_dir)):
            return "sdk"
        if p.is_dir():
            return folder_format({c.name for c in p.iterdir()}) or "folder"
        return MODEL_SUFFIXES.get(p.suffix.lower(), "file")

    def register(self, run_ref: str, path: str, name: str, task: Task | None = None) -> ModelVersionInfo:
        """Version N+1 of ``name`` from a file or folder of a run, bound to its content hash."""
        check_name(name)
        with self.db.read() as session:
            run = q.run_for_model(session, run_ref)
        artifact = self._resolve(run, path)
        digest = hashing.digest_path(artifact, task=task)  # outside any transaction: may take long
        actor = current_user()
        model_format = self._format_of(run, artifact)

        def insert() -> ModelVersionInfo:
            with self.db.write() as session:
                info = q.insert_version(
                    session, name=name, state="", run=run, run_hash=run_hash(run), path=str(artifact),
                    kind=digest.kind, model_format=model_format, artifact_hash=digest.hash, size=digest.size,
                    manifest=list(digest.manifest), registered_by=actor, created_at=now_ms(),
                )
                q.append_event(session, info.id, action="register", to_state=states.DRAFT, actor=actor,
                               time=info.created_at, comment=f"registered from run {run.uid}: {artifact}",
                               card_hash=card_q.card_hash(session, info.id))
                return q.get_version(session, name, info.version)

        return write_again_on_race(insert)

    # Reading ------------------------------------------------------------------------

    def versions(self, name: str | None = None) -> list[ModelVersionInfo]:
        with self.db.read() as session:
            return q.list_versions(session, name)

    def version(self, ref: str) -> ModelVersionInfo:
        name, number = parse_ref(ref)
        with self.db.read() as session:
            return q.get_version(session, name, number)

    def history(self, name: str, version: int | None = None) -> list[ApprovalEntry]:
        with self.db.read() as session:
            return q.events(session, name, version)

    def rehash(self, mv: ModelVersionInfo, task: Task | None = None) -> hashing.Digest:
        """The artifact as it is now, hashed with the algorithm it was registered with."""
        algo, _ = hashing.split(mv.artifact_hash)
        return hashing.digest_path(mv.path, algo, task)

    def verify(self, ref: str, task: Task | None = None) -> tuple[ModelVersionInfo, str | None]:
        """(version, its hash now) — None when the artifact is gone. Unequal hashes void an approval."""
        mv = self.version(ref)
        try:
            return mv, self.rehash(mv, task).hash
        except FileNotFoundError:
            return mv, None

    # The workflow ----------------------------------------------------------------------

    def transition(self, ref: str, action: str, comment: str = "", *, actor: str | None = None,
                   task: Task | None = None) -> ApprovalEntry:
        """Apply ``action`` to ``ref``, or raise TransitionRefused naming the rule that forbids it."""
        actor = actor or current_user()
        mv = self.version(ref)
        to_state = states.target(action, mv.state)
        if action in states.NEEDS_COMMENT and not comment.strip():
            raise TransitionRefused(f"rule comment: {action} needs a --comment saying why")
        artifact_hash = mv.artifact_hash
        if action == "approve":
            self._check_policy(mv, actor)
            try:
                now = self.rehash(mv, task)
            except FileNotFoundError:
                raise TransitionRefused(f"rule artifact: {mv.path} is gone; it cannot be approved") from None
            if now.hash != mv.artifact_hash:
                raise TransitionRefused(f"rule artifact: {mv.ref} changed since it was registered "
                                        f"({mv.artifact_hash} -> {now.hash}); register it again")
            artifact_hash = now.hash

        def append() -> ApprovalEntry:
            with self.db.write() as session:
                current = q.get_version(session, mv.name, mv.version)
                if current.state != mv.state:  # someone else moved it meanwhile
                    raise TransitionRefused(f"rule workflow: {mv.ref} is now {current.state}, not {mv.state}")
                return q.append_event(session, mv.id, action=action, to_state=to_state, actor=actor,
                                      time=now_ms(), comment=comment, artifact_hash=artifact_hash,
                                      card_hash=card_q.card_hash(session, mv.id))

        return write_again_on_race(append)

    def _check_policy(self, mv: ModelVersionInfo, actor: str) -> None:
        policy = load_policy(mv.project)
        where = f" (policy {policy.source})" if policy.source else ""
        if policy.require_other_approver and actor == mv.registered_by:
            raise TransitionRefused(f"rule require_other_approver{where}: {actor} registered {mv.ref} and may "
                                    "not approve it; another person must")
        for gate in policy.gates:
            why = gate.check(mv.metrics)
            if why is not None:
                raise TransitionRefused(f"rule gate '{gate.text}'{where}: {why}")
        if policy.required_card_sections:
            with self.db.read() as session:
                filled = card_q.filled_sections(session, mv.id)
            missing = [s for s in policy.required_card_sections if s not in filled]
            if missing:
                raise TransitionRefused(f"rule required_card_sections{where}: section '{missing[0]}' of {mv.ref}'s "
                                        f"model card is not filled (labdeck card edit {mv.ref} --section "
                                        f"{missing[0]} --text …)")

    def approval_entry(self, mv: ModelVersionInfo) -> ApprovalEntry | None:
        """The approve entry that put ``mv`` in its approved/published state, if any."""
        approvals = [e for e in self.history(mv.name, mv.version) if e.action == "approve"]
        return approvals[-1] if approvals else None

    # The audit --------------------------------------------------------------------------

    def audit(self, name: str) -> AuditReport:
        """Re-verify the hash chain of ``name``: an edited, removed or reordered entry is a problem."""
        with self.db.read() as session:
            entries = q.events(session, name)
            head = q.chain_head(session, name)
            versions = q.list_versions(session, name)
        if not versions and not entries:
            raise q.ModelNotFound(f"no model named {name!r} (see: labdeck model list)")
        problems = []
        prev = ""
        for i, e in enumerate(entries, start=1):
            fields = {k: getattr(e, k) for k in q.CHAIN_FIELDS}
            if e.seq != i:
                problems.append(f"entry {i} is numbered {e.seq}: an entry was removed or inserted")
            if e.prev_hash != prev:
                problems.append(f"entry {e.seq} does not follow entry {e.seq - 1} (its previous hash differs): "
                                "an entry before it was removed or changed")
            if q.chain_hash(fields) != e.entry_hash:
                problems.append(f"entry {e.seq} ({e.action} of version {e.version} by {e.actor}) was edited: "
                                "its content no longer matches its hash")
            prev = e.entry_hash
        if head is None or head != (len(entries), prev):
            problems.append(f"the log ends at entry {len(entries)}, but {head[0] if head else 0} were recorded: "
                            "entries were removed from its end")
        last_state: dict[int, str] = {}
        for e in entries:
            last_state[e.version] = e.to_state
        for v in versions:
            if last_state.get(v.version) != v.state:
                problems.append(f"version {v.version} is {v.state}, but its log says "
                                f"{last_state.get(v.version, 'nothing')}")
        return AuditReport(name, len(entries), tuple(problems))
