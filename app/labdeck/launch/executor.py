"""Where jobs run. An executor takes a queued job and owns it until it ends.

The UI and CLI talk only to this interface; ``LocalExecutor`` runs jobs on this machine
through a detached runner process per job, so jobs outlive the app that launched them.
Slurm and Ray executors (``cluster_executor.py``) are configured by name and submit to the
engine; a local monitor process per job follows it there and updates the same job row.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path

from labdeck.db import jobs as jobsdb
from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.helpers import helper_command, helper_cwd, helper_env
from labdeck.launch.processes import RUNNER_MODULE, job_group, kill_group, runner_alive
from labdeck.paths import data_dir


def logs_dir() -> Path:
    return data_dir() / "launch" / "logs"


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

    recorded = (job.spec.cluster or {}) if job is not None else {}
    if recorded.get("config") is not None:
        return cluster_executor(executors_config.ExecutorConfig(name, recorded["kind"], recorded["config"]))
    return cluster_executor(executors_config.get(name))  # ExecutorConfigError (a ValueError) when unknown
