"""Who uses a dataset version: runs (their recorded inputs), model versions (the datasets their
training run used, copied at registration) and jobs (the versions their launch spec checks out).

``dataset rm`` refuses a version that any of them uses; ``gc`` keeps the bytes of a removed
version that model versions or jobs still record (a run keeps only the facts: name, version,
hash). A version is matched by dataset name and content hash, as each of them recorded it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labdeck.db.job_tables import Job
from labdeck.db.catalogue_tables import Run, RunInput
from labdeck.db.registry_tables import ModelVersion


@dataclass(frozen=True)
class VersionUser:
    kind: str  # run | model | job
    ref: str  # the run's id, the model version "name:version", the job's id
    detail: str = ""  # the run's context (train, eval), the model's state, the job's status

    def text(self) -> str:
        return f"{self.kind} {self.ref}" + (f" ({self.detail})" if self.detail else "")

    def as_json(self) -> dict:
        return {"kind": self.kind, "ref": self.ref, "detail": self.detail}


def _name_of(entry: dict) -> str:
    """The dataset name a lineage entry records ("name", else the NAME of its "NAME:VERSION" source)."""
    name = entry.get("name")
    if name:
        return str(name)
    return str(entry.get("source", "")).rpartition(":")[0]


def _labdeck_entries(raw: str, key: str | None) -> Iterable[dict]:
    """The labdeck dataset entries of a JSON column (a list, or a dict holding one under ``key``)."""
    try:
        data = json.loads(raw or "null")
    except ValueError:
        return ()
    if key is not None:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        return ()
    return (e for e in data if isinstance(e, dict) and e.get("source_type", "labdeck") == "labdeck")


def users_of(session: Session, name: str, digest: str) -> list[VersionUser]:
    """Runs, model versions and jobs that record version ``digest`` of dataset ``name``."""
    out: list[VersionUser] = []
    runs = session.execute(
        select(Run.uid, RunInput.source, RunInput.name, RunInput.context)
        .join(Run, Run.pk == RunInput.run_pk)
        .where(RunInput.source_type == "labdeck", RunInput.digest == digest)
        .order_by(Run.pk)
    )
    for uid, source, input_name, context in runs:
        if _name_of({"name": input_name, "source": source}) == name:
            out.append(VersionUser("run", uid, context))
    # The JSON columns are searched for the hash first, then parsed: only a few rows match.
    models = session.execute(
        select(ModelVersion.name, ModelVersion.version, ModelVersion.state, ModelVersion.datasets)
        .where(ModelVersion.datasets.contains(digest))
        .order_by(ModelVersion.name, ModelVersion.version)
    )
    for model, version, state, datasets in models:
        if any(e.get("digest") == digest and _name_of(e) == name for e in _labdeck_entries(datasets, None)):
            out.append(VersionUser("model", f"{model}:{version}", state))
    jobs = session.execute(select(Job.id, Job.status, Job.spec).where(Job.spec.contains(digest)).order_by(Job.created_at))
    for job_id, status, spec in jobs:
        if any(e.get("digest") == digest and _name_of(e) == name for e in _labdeck_entries(spec, "datasets")):
            out.append(VersionUser("job", job_id, status))
    return out


def pinned_digests(session: Session) -> dict[str, list[str]]:
    """{version hash: ["model clf:2", "job 3fa…", ...]} for every version model versions and jobs record.

    Their bytes must outlive the version itself: a job checks them out when it starts, and a
    model version's lineage should stay restorable.
    """
    models = session.execute(select(ModelVersion.name, ModelVersion.version, ModelVersion.datasets))
    jobs = session.execute(select(Job.id, Job.spec))
    return pins_from_rows(models, jobs)


def pins_from_rows(models: Iterable[tuple], jobs: Iterable[tuple]) -> dict[str, list[str]]:
    """``pinned_digests`` from (name, version, datasets JSON) and (job id, spec JSON) rows."""
    out: dict[str, list[str]] = {}
    for model, version, datasets in models:
        for e in _labdeck_entries(datasets, None):
            if e.get("digest"):
                out.setdefault(str(e["digest"]), []).append(f"model {model}:{version}")
    for job_id, spec in jobs:
        for e in _labdeck_entries(spec, "datasets"):
            if e.get("digest"):
                out.setdefault(str(e["digest"]), []).append(f"job {job_id}")
    return out
