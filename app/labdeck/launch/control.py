"""Following jobs after launch: list (re-attaching to what the database says), cancel, wait, logs."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.db import jobs as jobsdb
from labdeck.db.jobs import JobInfo
from labdeck.launch.cluster_executor import MONITOR_MODULE
from labdeck.launch.executor import executor_for
from labdeck.launch.processes import RUNNER_MODULE, job_group, kill_group, pid_alive
from labdeck.launch.isolated import helper_running
from labdeck.launch.runner import STDERR_FILE, STDOUT_FILE
from labdeck.tasks import Task

if TYPE_CHECKING:  # the facade above: launch takes it, never imports it (layers)
    from labdeck.workspace import Workspace


def reconcile(ws: Workspace) -> int:
    """Fail active jobs whose owner died (machine restart, kill -9); returns how many."""
    fixed = 0
    with ws.db.read() as s:
        active = jobsdb.list_jobs(s, jobsdb.ACTIVE)
    for job in active:
        if job.runner_pid is None:  # not handed over yet, or never will be: its launcher died
            fixed += fail_if_never_started(ws, job.id, only_if_launcher_gone=True)
            continue
        executor = executor_for(job.executor, job)
        if executor.owner_alive(job) is False and not executor.reattach(ws.index_path, job):
            # A command may outlive its runner: it must not hold a GPU unseen.
            kill_group(job_group(job.pgid, job.id))
            with ws.db.write() as s:
                fresh = jobsdb.get_job(s, job.id)
                if not fresh.finished:
                    jobsdb.finish_job(s, job.id, "failed",
                                      message="labdeck's runner for this job disappeared (killed or machine restarted)")
                    fixed += 1
    return fixed


NEVER_STARTED = "the launch was interrupted before the job's runner started"


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _launcher_alive(job: JobInfo) -> bool | None:
    """Whether the process that launched ``job`` still runs (None: another machine, or not recorded)."""
    launcher = job.spec.launcher
    if launcher is None or not launcher.pid or launcher.host != socket.gethostname():
        return None
    if not pid_alive(launcher.pid):
        return False
    started = _started_at(launcher.pid)  # a process younger than the job got a recycled pid
    return started is None or started <= job.created_at / 1000 + 1


def fail_if_never_started(ws: Workspace, job_id: str, *, only_if_launcher_gone: bool = False) -> int:
    """Fail a job that has no runner and will get none; 1 if it was failed here."""
    with ws.db.read() as s:
        job = jobsdb.get_job(s, job_id)
    if job.finished or job.runner_pid is not None:
        return 0
    if only_if_launcher_gone and _launcher_alive(job) is not False:
        return 0
    if helper_running(RUNNER_MODULE, job.id) or helper_running(MONITOR_MODULE, job.id):
        return 0  # started: it records its pid itself in a moment
    with ws.db.write() as s:
        fresh = jobsdb.get_job(s, job_id)
        if fresh.finished or fresh.runner_pid is not None:
            return 0
        jobsdb.finish_job(s, job_id, "failed", message=NEVER_STARTED)
    return 1


def jobs(ws: Workspace, *, limit: int | None = None) -> list[JobInfo]:
    reconcile(ws)
    with ws.db.read() as s:
        return jobsdb.list_jobs(s, limit=limit)


def job(ws: Workspace, ref: str) -> JobInfo:
    with ws.db.read() as s:
        return jobsdb.get_job(s, ref)


def cancel(ws: Workspace, ref: str) -> JobInfo:
    j = job(ws, ref)
    executor_for(j.executor, j).cancel(ws.db, j)
    return job(ws, j.id)


def wait(ws: Workspace, ref: str, task: Task | None = None, poll_s: float = 0.2) -> JobInfo:
    """Block until the job ends (``task`` cancels the waiting, never the job)."""
    j = job(ws, ref)
    checks = 0
    while not j.finished:
        if task is not None:
            task.check()
        time.sleep(poll_s)
        checks += 1
        if checks % 25 == 0:
            reconcile(ws)
        j = job(ws, j.id)
    return j


def log_paths(j: JobInfo) -> tuple[Path, Path] | None:
    if not j.run_dir:
        return None
    d = Path(j.run_dir)
    return d / STDOUT_FILE, d / STDERR_FILE


def read_logs(j: JobInfo, tail_bytes: int | None = None) -> tuple[str, str]:
    paths = log_paths(j)
    if paths is None:
        return "", ""
    out = []
    for p in paths:
        try:
            data = p.read_bytes()
        except OSError:
            data = b""
        if tail_bytes is not None:
            data = data[-tail_bytes:]
        out.append(data.decode("utf-8", errors="replace"))
    return out[0], out[1]


def follow(ws: Workspace, ref: str, task: Task | None = None, poll_s: float = 0.2) -> Iterator[tuple[str, str]]:
    """Yield ("stdout"|"stderr", text) as the job writes, until it ends."""
    j = job(ws, ref)
    offsets = [0, 0]
    while True:
        if task is not None:
            task.check()
        paths = log_paths(j)
        if paths is not None:
            for i, (p, name) in enumerate(zip(paths, ("stdout", "stderr"))):
                try:
                    with open(p, "rb") as f:
                        f.seek(offsets[i])
                        data = f.read()
                except OSError:
                    data = b""
                if data:
                    offsets[i] += len(data)
                    yield name, data.decode("utf-8", errors="replace")
        if j.finished:
            return
        time.sleep(poll_s)
        j = job(ws, j.id)
