"""Slurm and Ray executors: submit at launch, then a local monitor process follows the job.

``start`` lays the job out on the shared path and submits it (a rejection fails the launch
with the engine's own words); a detached ``labdeck.launch.cluster_monitor`` per job then
follows the engine by the job's id, so closing the app loses nothing, and a monitor that died
is simply started again (``reattach``). What was submitted is kept on the job, under
``spec.cluster`` (a ``db.job_spec.JobSpec``): executor, kind, the engine's id, the bundle folder, the batch script.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from labdeck.db import jobs as jobsdb
from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.launch import cluster_prepare
from labdeck.launch.cluster_engine import Engine, EngineUnreachable
from labdeck.launch.executor import Executor, SubmissionRejected, logs_dir
from labdeck.launch.processes import helper_alive
from labdeck.launch.executors_config import ExecutorConfig
from labdeck.helpers import helper_command, helper_cwd, helper_env

MONITOR_MODULE = "labdeck.launch.cluster_monitor"


def engine_for(cfg: ExecutorConfig) -> Engine:
    if cfg.kind == "slurm":
        from labdeck.launch.slurm import SlurmEngine

        return SlurmEngine(cfg)
    from labdeck.launch.ray_jobs import RayEngine

    return RayEngine(cfg)


def monitor_alive(pid: int | None, job_id: str) -> bool:
    return helper_alive(pid, MONITOR_MODULE, job_id)


class ClusterExecutor(Executor):
    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.engine = engine_for(cfg)

    def start(self, db_path: Path, job: JobInfo) -> None:
        db = Database(db_path)
        try:
            # The monitor starts first: its start-up (about 0.5 s of imports) overlaps the bundle
            # and the submission, and it follows the job from the engine's id once that is recorded.
            self.spawn_monitor(db_path, job.id, db)
            python = self.cfg.get("python", sys.executable)
            root = cluster_prepare.shared_root(self.cfg.get("shared"), job)
            try:
                bundle = cluster_prepare.prepare(db, job, root, executor=self.name, kind=self.cfg.kind, python=python,
                                                results_here=self.engine.results_in_bundle)
            except cluster_prepare.BundleError as exc:
                raise SubmissionRejected(str(exc)) from None
            # The configuration travels with the job: the monitor follows it even if the executor is removed.
            info = {"executor": self.name, "kind": self.cfg.kind, "bundle": str(bundle.root),
                    "config": dict(self.cfg.options)}
            info.update(self.engine.submit(bundle, job, python))
            with db.write() as s:
                jobsdb.update_job(s, job.id, spec=job.spec.but(cluster=info), work_dir=str(bundle.root),
                                  host=socket.gethostname(),
                                  message=f"submitted to {self.cfg.kind} {info.get('cluster') or self.name} "
                                          f"as {info['id']}")
        finally:
            db.close()

    def spawn_monitor(self, db_path: Path, job_id: str, db: Database) -> None:
        logs_dir().mkdir(parents=True, exist_ok=True)
        with open(logs_dir() / f"{job_id}.monitor.log", "ab") as log:
            # Isolated from the project folder, like the local runner (see labdeck/helpers.py).
            proc = subprocess.Popen(helper_command(MONITOR_MODULE, job_id, "--index", str(Path(db_path).resolve())),
                                    cwd=helper_cwd(), env=helper_env(),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        with db.write() as s:
            jobsdb.update_job(s, job_id, runner_pid=proc.pid)

    def cancel(self, db: Database, job: JobInfo) -> None:
        with db.write() as s:
            current = jobsdb.get_job(s, job.id)
            if current.finished:
                return
            jobsdb.update_job(s, job.id, cancel_requested=True)
            info = current.spec.cluster or {}
            if not info.get("id"):
                jobsdb.finish_job(s, job.id, "cancelled", message="cancelled before it was submitted")
                return
        try:
            self.engine.cancel(info)
        except EngineUnreachable as exc:
            with db.write() as s:
                jobsdb.update_job(s, job.id, message=f"cancel asked, but {exc}; labdeck keeps asking")

    def owner_alive(self, job: JobInfo) -> bool | None:
        if job.host and job.host != socket.gethostname():
            return None
        return monitor_alive(job.runner_pid, job.id)

    def reattach(self, db_path: Path, job: JobInfo) -> bool:
        if not (job.spec.cluster or {}).get("id"):
            return False
        db = Database(db_path)
        try:
            self.spawn_monitor(db_path, job.id, db)
        finally:
            db.close()
        return True


def cluster_executor(cfg: ExecutorConfig) -> ClusterExecutor:
    return ClusterExecutor(cfg)
