"""Queue a job: check the request, snapshot the code, record the spec, hand it to an executor.

Everything that can be wrong with the user's input is found here, before anything is queued,
and raised as ``LaunchError`` with a message that says what to change.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.db import jobs as jobsdb
from labdeck.db.job_spec import EnvSpec, JobSpec, Launcher, Resources
from labdeck.db.jobs import JobInfo
from labdeck.paths import normalise
from labdeck.errors import UserError
from labdeck.launch import datasets as launch_datasets
from labdeck.launch import envs, gitsnap
from labdeck.launch.executor import SubmissionRejected, executor_for
from labdeck.launch.gpus import Inventory, default_inventory
from labdeck.launch.scheduler import GpuRequest, RequestError, parse_request
from labdeck.tasks import Task

if TYPE_CHECKING:  # the facade above: launch takes it, never imports it (layers)
    from labdeck.workspace import Workspace

PYTHON_NAMES = ("python", "python3", f"python{platform.python_version_tuple()[0]}.{platform.python_version_tuple()[1]}")


class LaunchError(UserError, ValueError):
    """Bad launch input (message for the user)."""


@dataclass(frozen=True)
class LaunchRequest:
    command: tuple[str, ...]
    project: str | None = None
    gpus: str = "none"
    min_gpu_mem_gb: float | None = None
    env: str = "current"
    seed: int | None = None
    datasets: tuple[str, ...] = ()
    priority: int = 0
    executor: str = "local"
    name: str | None = None
    experiment: str = "launch"
    notes: tuple[str, ...] = field(default_factory=tuple)
    cpus: int | None = None  # asked of a cluster's engine (Slurm --cpus-per-task, Ray's entrypoint CPUs)
    mem_gb: float | None = None  # likewise (Slurm --mem, Ray's entrypoint memory)


def resolve_gpus(req: GpuRequest, inventory: Inventory) -> tuple[GpuRequest, list[str]]:
    """Check a GPU request against this machine; on a CPU-only machine fall back to the CPU."""
    notes: list[str] = []
    if not req.wants_gpus:
        return req, notes
    snap = inventory.snapshot()
    if snap.cpu_only:
        notes.append(f"asked for GPUs but this machine is {snap.describe()}; the job runs on the CPU")
        return GpuRequest(0, (), 0), notes
    known = {g.uuid for g in snap.gpus}
    for u in req.uuids:
        if u not in known:
            raise LaunchError(f"--gpus: no GPU {u} on this machine (have: {', '.join(sorted(known))})")
    if not req.uuids and req.count > len(snap.gpus):
        raise LaunchError(f"--gpus {req.count}: this machine has {len(snap.gpus)} GPU(s)")
    return req, notes


def check_command(command: tuple[str, ...]) -> None:
    if not command:
        raise LaunchError("no command given: labdeck launch [options] -- COMMAND ARGS…")
    exe = command[0]
    if exe in PYTHON_NAMES or "/" in exe:
        return  # the interpreter is chosen per job; paths are looked up in the job's copy of the code
    if shutil.which(exe) is None:
        raise LaunchError(f"command not found: {exe!r} (not on PATH)")


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def launch(ws: Workspace, req: LaunchRequest, *, inventory: Inventory | None = None, task: Task | None = None) -> JobInfo:
    check_command(req.command)
    project = Path(req.project or os.getcwd()).expanduser().resolve()
    if not project.is_dir():
        raise LaunchError(f"--project {project}: no such folder")
    if req.env not in ("current", "locked"):
        raise LaunchError(f"--env {req.env!r}: use current or locked")
    try:
        gpu_req = parse_request(req.gpus, req.min_gpu_mem_gb)
    except RequestError as exc:
        raise LaunchError(str(exc)) from None
    try:
        executor_for(req.executor)  # an unknown name fails here, before anything is queued
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    notes: list[str] = []
    if req.executor == "local":  # a cluster's GPUs are the engine's to check
        gpu_req, notes = resolve_gpus(gpu_req, inventory or default_inventory())
    try:
        datasets = [launch_datasets.resolve(ws.db, d) for d in req.datasets]
    except launch_datasets.DatasetError as exc:
        raise LaunchError(str(exc)) from None
    try:
        code = gitsnap.snapshot(project)
        env_spec = EnvSpec(req.env, platform.python_version())
        if req.env == "locked":
            _, lines = envs.find_lock(Path(code.repo))
            envs.uv_binary()  # fail now, not in the runner, when uv is missing
            env_spec = EnvSpec(req.env, platform.python_version(), tuple(lines))
    except (gitsnap.SnapshotError, envs.EnvError) as exc:
        raise LaunchError(str(exc)) from None
    if task is not None:
        task.check()
    resources = Resources(req.cpus, req.mem_gb)
    if resources.to_json() and req.executor == "local":
        notes.append("--cpus/--mem are asked of a cluster's engine; a local job is not limited by them")
    spec = JobSpec(
        code=code.to_json(), env=env_spec, gpus=gpu_req.to_json(), seed=req.seed, datasets=tuple(datasets),
        notes=(*req.notes, *notes), name=req.name, experiment=req.experiment, resources=resources,
    )
    return enqueue(ws, str(project), list(req.command), spec, priority=req.priority, executor=req.executor)


def enqueue(ws: Workspace, project: str, command: list[str], spec: JobSpec, *, priority: int = 0,
            executor: str = "local") -> JobInfo:
    """Record the job as queued, make sure its project is indexed, and start it."""
    run_id = uuid.uuid4().hex
    # The launcher is named so that a status refresh can tell a launch killed before its runner
    # started (the job would stay queued for ever) from one still handing the job over.
    spec = spec.but(index_project=_watched_ancestor(ws, project), launcher=Launcher(os.getpid(), socket.gethostname()))
    with ws.db.write() as s:
        job = jobsdb.insert_job(
            s, job_id=new_job_id(), project=normalise(project), command=command, spec=spec,
            priority=priority, run_id=run_id, host=socket.gethostname(), executor=executor,
        )
    try:
        _start(ws, executor, job)
    except SubmissionRejected as exc:
        with ws.db.write() as s:
            jobsdb.finish_job(s, job.id, "failed", message=str(exc))
        raise LaunchError(str(exc)) from None
    except (OSError, ValueError) as exc:
        with ws.db.write() as s:
            jobsdb.finish_job(s, job.id, "failed", message=f"could not start the job's runner: {exc}")
        raise LaunchError(f"could not start the job's runner: {exc}") from None
    with ws.db.read() as s:
        return jobsdb.get_job(s, job.id)


def _start(ws: Workspace, executor: str, job: JobInfo) -> None:
    """Hand the job to its executor; interrupted (Ctrl-C) before a runner exists, the job fails."""
    try:
        executor_for(executor).start(ws.index_path, job)
    except (KeyboardInterrupt, SystemExit):
        from labdeck.launch.control import fail_if_never_started

        fail_if_never_started(ws, job.id)
        raise


def _watched_ancestor(ws: Workspace, project: str) -> str:
    """The watched project holding ``project`` (so its runs are indexed once), else ``project`` added."""
    return ws.add_project(project)[0]
