"""The job queue's SQL: insert, read, claim and finish jobs. Rows leave as ``JobInfo``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labdeck.clock import now_ms
from labdeck.db.job_spec import JobSpec
from labdeck.db.job_tables import Job
from labdeck.errors import UserError

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")


class JobNotFound(UserError, KeyError):
    """No job with that id (or prefix)."""


@dataclass(frozen=True)
class JobInfo:
    id: str
    status: str
    priority: int
    created_at: int
    started_at: int | None
    ended_at: int | None
    executor: str
    project: str
    command: tuple[str, ...]
    spec: JobSpec = field(default_factory=JobSpec)
    gpus: tuple[str, ...] = ()
    run_id: str = ""
    run_dir: str = ""
    work_dir: str = ""
    host: str = ""
    runner_pid: int | None = None
    pgid: int | None = None
    exit_code: int | None = None
    message: str = ""
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE


def _info(row: Job) -> JobInfo:
    return JobInfo(
        id=row.id,
        status=row.status,
        priority=row.priority,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        executor=row.executor,
        project=row.project,
        command=tuple(json.loads(row.command)),
        spec=JobSpec.from_json(json.loads(row.spec or "{}")),
        gpus=tuple(g for g in row.gpus.split(",") if g),
        run_id=row.run_id,
        run_dir=row.run_dir,
        work_dir=row.work_dir,
        host=row.host,
        runner_pid=row.runner_pid,
        pgid=row.pgid,
        exit_code=row.exit_code,
        message=row.message,
        cancel_requested=row.cancel_requested,
    )


def insert_job(
    session: Session,
    *,
    job_id: str,
    project: str,
    command: list[str],
    spec: JobSpec,
    priority: int = 0,
    run_id: str = "",
    run_dir: str = "",
    host: str = "",
    executor: str = "local",
) -> JobInfo:
    row = Job(
        id=job_id,
        status="queued",
        priority=priority,
        created_at=now_ms(),
        executor=executor,
        project=project,
        command=json.dumps(command),
        spec=json.dumps(spec.to_json(), sort_keys=True),
        gpus="",
        run_id=run_id,
        run_dir=run_dir,
        work_dir="",
        host=host,
        message="",
        cancel_requested=False,
    )
    session.add(row)
    session.flush()
    return _info(row)


def _row(session: Session, ref: str) -> Job:
    row = session.get(Job, ref)
    if row is not None:
        return row
    matches = list(session.execute(select(Job).where(Job.id.like(ref.replace("%", "") + "%"))).scalars())
    if len(matches) == 1 and len(ref) >= 3:
        return matches[0]
    if len(matches) > 1:
        raise JobNotFound(f"{ref!r} names {len(matches)} jobs; give more of the id")
    raise JobNotFound(f"no job with id {ref!r}")


def get_job(session: Session, ref: str) -> JobInfo:
    return _info(_row(session, ref))


def list_jobs(session: Session, statuses: tuple[str, ...] | None = None, limit: int | None = None) -> list[JobInfo]:
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id)
    if statuses:
        stmt = stmt.where(Job.status.in_(statuses))
    if limit:
        stmt = stmt.limit(limit)
    return [_info(r) for r in session.execute(stmt).scalars()]


def update_job(session: Session, ref: str, **values: Any) -> JobInfo:
    """Set columns of one job (``gpus`` as a sequence, ``spec`` as a ``JobSpec``)."""
    row = _row(session, ref)
    for key, value in values.items():
        if key == "gpus":
            value = ",".join(value)
        elif key == "spec":
            value = json.dumps(value.to_json(), sort_keys=True)
        if not hasattr(Job, key):
            raise AttributeError(f"jobs has no column {key}")
        setattr(row, key, value)
    session.flush()
    return _info(row)


def finish_job(session: Session, ref: str, status: str, *, exit_code: int | None = None, message: str = "") -> JobInfo:
    if status not in STATUSES or status in ACTIVE:
        raise ValueError(f"not a final status: {status!r}")
    row = _row(session, ref)
    if row.status not in ACTIVE:
        return _info(row)  # already final: the first word stands
    row.status = status
    row.ended_at = now_ms()
    row.exit_code = exit_code
    if message:
        row.message = message
    session.flush()
    return _info(row)
