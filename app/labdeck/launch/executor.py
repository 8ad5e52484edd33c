"""Where jobs run. An executor takes a queued job and owns it until it ends.

The UI and CLI talk only to this interface; ``LocalExecutor`` runs jobs on this machine
through a detached runner process per job, so jobs outlive the app that launched them.
Slurm and Ray executors (``cluster_executor.py``) are configured by name and submit to the
engine; a local monitor process per job follows it there and updates the same job row.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path

from labdeck.db import jobs as jobsdb
from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.launch.isolated import helper_command, helper_cwd, helper_env
from labdeck.paths import data_dir


RUNNER_MODULE = "labdeck.launch.runner"


def logs_dir() -> Path:
    return data_dir() / "launch" / "logs"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def runner_alive(pid: int | None, job_id: str) -> bool:
    """The runner of ``job_id`` still runs (a recycled pid, e.g. after a reboot, does not count)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc to ask: trust the pid
    return b"labdeck.launch.runner" in cmdline and job_id.encode() in cmdline


def job_group(pgid: int | None, job_id: str) -> int | None:
    """``pgid`` if its leader is still the job's command (its environment names the job), else None."""
    if not pgid:
        return None
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes()
    except OSError:
        return None  # gone, or not ours to read: never signal a group we cannot recognise
    return pgid if f"LABDECK_JOB_ID={job_id}".encode() in environ.split(b"\0") else None


def kill_group(pgid: int | None, sig: int = signal.SIGTERM) -> bool:
    """Signal a whole process group; False when it no longer exists."""
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


class Executor(ABC):
    name = "abstract"

    @abstractmethod
    def start(self, db_path: Path, job: JobInfo) -> None:
        """Take over a queued job (returns at once; the job runs on its own)."""

    @abstractmethod
    def cancel(self, db: Database, job: JobInfo) -> None:
        """Ask a job to stop; a running one is stopped with every process it started."""

    @abstractmethod
    def owner_alive(self, job: JobInfo) -> bool | None:
        """Whether the job's owner still runs (None: cannot tell from here)."""

    def reattach(self, db_path: Path, job: JobInfo) -> bool:
        """Give a job whose owner died a new one (a cluster job still runs there); False: cannot."""
        return False


class SubmissionRejected(ValueError):
    """The engine refused the job (bad partition, over quota, unreachable): its message as is."""


class LocalExecutor(Executor):
    name = "local"

    def start(self, db_path: Path, job: JobInfo) -> None:
        logs_dir().mkdir(parents=True, exist_ok=True)
        log = open(logs_dir() / f"{job.id}.runner.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            # Its own session: closing the terminal or the app does not stop the job. Isolated from
            # the project folder: the runner must not import the user's modules (a yaml.py, a json.py).
            proc = subprocess.Popen(
                helper_command(RUNNER_MODULE, job.id, "--index", str(Path(db_path).resolve())),
                cwd=helper_cwd(),
                env=helper_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            log.close()
        db = Database(db_path)
        try:
            with db.write() as s:
                jobsdb.update_job(s, job.id, runner_pid=proc.pid, host=socket.gethostname())
        finally:
            db.close()

    def cancel(self, db: Database, job: JobInfo) -> None:
        with db.write() as s:
            current = jobsdb.get_job(s, job.id)
            if current.finished:
                return
            jobsdb.update_job(s, job.id, cancel_requested=True)
            if current.status == "queued" and not runner_alive(current.runner_pid, current.id):
                jobsdb.finish_job(s, job.id, "cancelled", message="cancelled before it started")
        # The runner escalates to SIGKILL; signalling here too makes cancel prompt.
        if current.status == "running" and current.host == socket.gethostname():
            kill_group(job_group(current.pgid, current.id), signal.SIGTERM)

    def owner_alive(self, job: JobInfo) -> bool | None:
        if job.host and job.host != socket.gethostname():
            return None
        return runner_alive(job.runner_pid, job.id)


EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor}


def executor_for(name: str, job: JobInfo | None = None) -> Executor:
    """``local``, or a cluster executor configured by ``labdeck executor add NAME KIND`` (for a
    ``job`` already submitted, as it was configured then, even if since removed)."""
    if name in EXECUTORS:
        return EXECUTORS[name]()
    from labdeck.launch import executors_config
    from labdeck.launch.cluster_executor import cluster_executor

    recorded = (job.spec.get("cluster") or {}) if job is not None else {}
    if recorded.get("config") is not None:
        return cluster_executor(executors_config.ExecutorConfig(name, recorded["kind"], recorded["config"]))
    return cluster_executor(executors_config.get(name))  # ExecutorConfigError (a ValueError) when unknown
