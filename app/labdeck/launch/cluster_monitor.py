"""Follows one cluster job: ``python -m labdeck.launch.cluster_monitor JOB_ID --index PATH``.

Started detached by ``ClusterExecutor`` (and again by ``reattach`` when it died), it asks the
engine for the job's state, mirrors it onto the job row with the engine's own reason, and when
the job ends brings its run into the project (Ray: copied back from the bundle), ends the run
if the job could not (killed before it wrote its result), indexes the project and records the
end. An unreachable engine is said on the job and asked again; the queue keeps working.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import time
import traceback
from pathlib import Path

from labdeck.db import jobs as jobsdb
from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.launch.cluster_bundle import Bundle
from labdeck.launch.cluster_engine import Engine, EngineState, EngineUnreachable
from labdeck.launch.cluster_executor import engine_for
from labdeck.launch.executors_config import ExecutorConfig
from labdeck.launch.processes import pid_alive
from labdeck.runs import native_format as fmt
from labdeck.sdk import Run

POLL_S = 0.3
FIRST_POLL_S, FIRST_POLLS_FOR_S = 0.05, 5.0  # most jobs start (or are refused) in their first seconds
SUBMIT_POLL_S = 0.02
NOT_SUBMITTED = "the launch ended before the job was submitted"
FORGOTTEN_POLLS = 20  # the engine no longer knows the job and it left no result: it is lost
ENGINE_NAMES = {"slurm": "Slurm", "ray": "Ray"}


class Monitor:
    def __init__(self, db: Database, job_id: str) -> None:
        self.db = db
        self.job_id = job_id
        job = self.job()
        self.info = job.spec.cluster or {}
        self.kind = self.info.get("kind", "")
        self.engine: Engine = engine_for(ExecutorConfig(self.info.get("executor", ""), self.kind,
                                                        self.info.get("config") or {}))
        self.bundle = Bundle(Path(self.info["bundle"]))
        self.last: EngineState | None = None
        self.began = time.monotonic()

    def job(self) -> JobInfo:
        with self.db.read() as s:
            return jobsdb.get_job(s, self.job_id)

    def update(self, **values) -> None:
        with self.db.write() as s:
            jobsdb.update_job(s, self.job_id, **values)

    def main(self) -> int:
        forgotten = 0
        while True:
            job = self.job()
            if job.finished:
                return 0
            try:
                state = self.engine.state(self.info)
            except EngineUnreachable as exc:
                self._say(job, f"{exc}; asking again")
                time.sleep(POLL_S * 5)
                continue
            run_dir = self.bundle.run_dir()
            if run_dir and run_dir != job.run_dir:
                self.update(run_dir=run_dir)
            if state is None:  # gone from the controller (no accounting): the job's own result decides
                forgotten += 1
                if self.bundle.result() is None and forgotten < FORGOTTEN_POLLS:
                    time.sleep(POLL_S)
                    continue
                state = self.last or EngineState("failed", "UNKNOWN", "the engine no longer knows the job")
                if not state.finished:
                    state = EngineState("succeeded" if self.bundle.result() else "failed", state.raw, state.reason)
            if state.finished:
                self.finish(self.job(), state)
                return 0
            if state.status == "running" and job.status == "queued":
                self.update(status="running", started_at=jobsdb.now_ms(),
                            message=f"running on {state.nodes or self.engine.cluster_name()}")
            elif state.status == "queued":
                self._say(job, f"pending in {ENGINE_NAMES.get(self.kind, self.kind)}: {state.describe()}")
            self.last = state
            time.sleep(FIRST_POLL_S if time.monotonic() - self.began < FIRST_POLLS_FOR_S else POLL_S)

    def _say(self, job: JobInfo, message: str) -> None:
        if job.message != message:
            self.update(message=message)

    def outcome(self, job: JobInfo, state: EngineState) -> tuple[str, int | None, str]:
        """Final status, exit code and message: the engine's word for a stop, the job's for its command."""
        engine = ENGINE_NAMES.get(self.kind, self.kind)
        result = self.bundle.result()
        if state.status == "cancelled":
            if job.cancel_requested:
                return "cancelled", None, "cancelled by the user"
            return "cancelled", None, f"killed by {engine} outside labdeck: {state.describe()}"
        where = f"ran on {state.nodes or (self.last.nodes if self.last else '') or '?'} ({engine} job {self.info['id']})"
        if result and state.raw in ("COMPLETED", "FAILED", "SUCCEEDED", "UNKNOWN", "COMPLETING"):
            return result["status"], result.get("exit_code"), result.get("message") or where
        if state.status == "succeeded":
            return "succeeded", 0, where
        return "failed", None, f"{engine}: {state.describe()}"

    def finish(self, job: JobInfo, state: EngineState) -> None:
        status, exit_code, message = self.outcome(job, state)
        run_dir = self.bundle.run_dir()
        if run_dir and self.bundle.result() is None:
            self._end_run(Path(run_dir), status, message)  # the job was stopped before it could
        if run_dir and self.engine.results_in_bundle:
            run_dir = self._copy_back(job, Path(run_dir))
        if run_dir:
            self.update(run_dir=run_dir)
        self._index(job)
        with self.db.write() as s:
            jobsdb.finish_job(s, job.id, status, exit_code=exit_code, message=message)

    def _end_run(self, run_dir: Path, status: str, message: str) -> None:
        try:
            run = Run.attach(run_dir)
            run.end({"succeeded": "finished", "cancelled": "killed"}.get(status, "failed"), error=message or None)
            (run_dir / fmt.LOCK_FILE).unlink(missing_ok=True)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"could not end the run in {run_dir}: {exc}", file=sys.stderr)

    def _copy_back(self, job: JobInfo, run_dir: Path) -> str:
        """Ray: the run was written into the bundle; it joins the project like a local job's."""
        dest = Path(job.project) / fmt.RUNS_FOLDER / run_dir.name
        try:
            if dest.exists():  # an earlier copy cut short: completed in place
                shutil.copytree(run_dir, dest, dirs_exist_ok=True, symlinks=True)
            else:  # staged and renamed, as the SDK does: the run appears whole
                staging = dest.with_name(fmt.staging_name(dest.name))
                shutil.rmtree(staging, ignore_errors=True)
                shutil.copytree(run_dir, staging, symlinks=True)
                os.rename(staging, dest)
            shutil.rmtree(run_dir, ignore_errors=True)
        except OSError as exc:
            print(f"could not copy the run back from {run_dir}: {exc}", file=sys.stderr)
            return str(run_dir)
        return str(dest)

    def _index(self, job: JobInfo) -> None:
        from labdeck.runs.indexer import index_project

        try:
            index_project(self.db, job.spec.index_project or job.project)
        except Exception:  # noqa: BLE001 - the watcher or the next pass will catch up
            traceback.print_exc()


def _submitted(job: JobInfo) -> bool:
    return bool((job.spec.cluster or {}).get("id"))


def wait_for_submission(db: Database, job_id: str) -> bool:
    """Started before the submission, wait for the engine's id; False if there will be none.

    The launcher records the id, or fails the job when the engine refuses it. A launcher that
    died in between (killed, Ctrl-C) leaves a job no engine knows: it is failed here.
    """
    while True:
        with db.read() as s:
            job = jobsdb.get_job(s, job_id)
        if job.finished:
            return False
        if _submitted(job):
            return True
        launcher = job.spec.launcher
        if launcher is not None and launcher.host == socket.gethostname() and launcher.pid \
                and not pid_alive(launcher.pid):
            with db.write() as s:
                fresh = jobsdb.get_job(s, job_id)  # it may have written the id just before it ended
                if fresh.finished or _submitted(fresh):
                    continue
                jobsdb.finish_job(s, job_id, "failed", message=NOT_SUBMITTED)
            return False
        time.sleep(SUBMIT_POLL_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name if __spec__ else 'cluster_monitor'}")
    parser.add_argument("job")
    parser.add_argument("--index", required=True)
    args = parser.parse_args(argv)
    db = Database(Path(args.index))
    try:
        if not wait_for_submission(db, args.job):
            return 0
        return Monitor(db, args.job).main()
    except Exception as exc:  # noqa: BLE001 - the job must not stay "running" for ever unseen
        traceback.print_exc()
        with db.write() as s:
            jobsdb.finish_job(s, args.job, "failed", message=f"labdeck's cluster monitor failed: {exc}")
        return 1
    finally:
        db.close()


if __name__ == "__main__":
    sys.exit(main())
