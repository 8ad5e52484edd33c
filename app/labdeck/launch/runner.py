"""The process that owns one job: ``python -m labdeck.launch.runner JOB_ID --index PATH``.

Started detached (its own session) by ``LocalExecutor``, it prepares the code and the
environment, waits for its turn and GPUs, creates the job's native run with the manifest,
runs the command in its own process group with output captured into the run folder, and
records the end in the database. Front ends only read the job row, so they can come and go.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from labdeck.db import jobs as jobsdb
from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.launch import datasets as launch_datasets
from labdeck.launch import envs, gitsnap, manifest
from labdeck.launch.processes import kill_group
from labdeck.launch.gpus import default_inventory
from labdeck.launch.jobenv import job_command, job_environment
from labdeck.launch.outputs import collect_outputs
from labdeck.launch.reproduce import REPRODUCES_TAG
from labdeck.launch.scheduler import GpuRequest, Queued, decide
from labdeck.paths import data_dir
from labdeck.sdk import Run

POLL_S = 0.25
KILL_GRACE_S = 5.0
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"


def work_root() -> Path:
    return data_dir() / "launch" / "work"


@contextmanager
def schedule_lock():
    """One scheduling decision at a time across every runner of this data directory."""
    path = data_dir() / "launch" / "schedule.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class JobFailed(Exception):
    """The job cannot go on; the message goes onto the job and its run."""


class Runner:
    def __init__(self, db: Database, job_id: str) -> None:
        self.db = db
        self.job_id = job_id
        self.inventory = default_inventory()
        self.run: Run | None = None
        self.notes: list[str] = []
        self.interpreter: dict = {}
        self.python = Path(sys.executable)
        self.venv: Path | None = None
        self.cwd: Path | None = None
        self.gpus: list[str] = []
        self.dataset_paths: dict[str, str] = {}
        self.stop_requested = False
        self.t0 = time.monotonic()

    def log(self, message: str) -> None:
        """A line in the runner's own log (``data_dir()/launch/logs/JOB.runner.log``)."""
        print(f"{time.strftime('%H:%M:%S')} {time.monotonic() - self.t0:7.3f}s {message}", flush=True)

    def job(self) -> JobInfo:
        with self.db.read() as s:
            return jobsdb.get_job(s, self.job_id)

    def update(self, **values) -> JobInfo:
        with self.db.write() as s:
            return jobsdb.update_job(s, self.job_id, **values)

    def finish(self, status: str, exit_code: int | None = None, message: str = "") -> None:
        if self.run is not None:
            self.index()  # before the final status: whoever waits for it finds the run indexed
        self.clean_up()
        with self.db.write() as s:
            jobsdb.finish_job(s, self.job_id, status, exit_code=exit_code, message=message)

    # Steps ----------------------------------------------------------------

    def main(self) -> int:
        job = self.job()
        if job.finished:
            return 0
        self.update(runner_pid=os.getpid())
        self.log(f"job {job.id}: {' '.join(job.command)}")
        try:
            self.prepare(job)
            self.log(f"prepared: code in {self.cwd}, python {self.python}")
            if not self.wait_for_turn():
                self.log("cancelled while queued")
                return 0
            self.log(f"starting on GPUs {self.gpus or 'none'}")
            return self.execute(self.job())
        except JobFailed as exc:
            self.fail(str(exc))
            return 1
        except Exception as exc:  # noqa: BLE001 - any surprise still ends the job visibly
            traceback.print_exc()
            self.fail(f"labdeck's runner failed: {type(exc).__name__}: {exc}")
            return 1
        finally:
            self.clean_up()

    def clean_up(self) -> None:
        # The clean copy (and dataset copies) can be large; the snapshot stays in the store.
        if not os.environ.get("LABDECK_KEEP_WORK"):
            shutil.rmtree(work_root() / self.job_id, ignore_errors=True)

    def stop(self, *_args) -> None:
        """SIGTERM/SIGHUP to the runner: stop the job as a cancel would, then end normally."""
        self.stop_requested = True

    def _stopping(self) -> bool:
        return self.stop_requested or self.job().cancel_requested

    def prepare(self, job: JobInfo) -> None:
        spec = job.spec
        work = work_root() / job.id
        shutil.rmtree(work, ignore_errors=True)
        try:
            self.cwd = gitsnap.materialise(gitsnap.CodeSnapshot.from_json(spec.code), work / "code")
        except (gitsnap.SnapshotError, KeyError) as exc:
            raise JobFailed(f"cannot restore the code: {exc}") from None
        try:
            self.dataset_paths = launch_datasets.checkout_all(self.db, list(spec.datasets), work / "datasets")
        except launch_datasets.DatasetError as exc:
            raise JobFailed(str(exc)) from None
        env = spec.env
        try:
            if env.kind == "locked":
                lock = envs.Lock(tuple(env.lock or ()), env.python)
                self.venv, reused = envs.ensure_env(lock, log=lambda text: print(text, flush=True))
                self.python = envs.env_python(self.venv)
                self.notes.append(f"environment {lock.digest} {'reused from the cache' if reused else 'built by uv'}")
            self.interpreter = envs.describe_interpreter(self.python)
        except envs.EnvError as exc:
            raise JobFailed(f"cannot build the environment: {exc}") from None
        self.update(work_dir=str(self.cwd))  # marks the job ready for the scheduler

    def wait_for_turn(self) -> bool:
        """Block until the scheduler starts this job (True) or it is cancelled (False)."""
        while True:
            job = self.job()
            if job.cancel_requested or self.stop_requested or job.status != "queued":
                self.finish("cancelled", message="cancelled before it started")
                return False
            with schedule_lock():
                decision = self._decide()
                if decision is not None and decision.start:
                    self.gpus = list(decision.gpus)
                    self.update(status="running", gpus=self.gpus, started_at=jobsdb.now_ms())
                    return True
            if decision is not None and decision.error:
                raise JobFailed(decision.error)
            time.sleep(POLL_S)

    def _decide(self):
        with self.db.read() as s:
            active = jobsdb.list_jobs(s, jobsdb.ACTIVE)
        queued = [
            Queued(j.id, j.priority, j.created_at, GpuRequest.from_json(j.spec.gpus))
            for j in active
            if j.status == "queued" and (j.work_dir or j.id == self.job_id) and not j.cancel_requested
        ]
        running = [j for j in active if j.status == "running"]
        held = {g for j in running for g in j.gpus}
        cpu_running = sum(1 for j in running if not j.gpus)
        snap = self.inventory.snapshot()
        self.snapshot = snap
        max_cpu = int(os.environ.get("LABDECK_MAX_CPU_JOBS", "4"))
        return decide(queued, held, snap, running_cpu_jobs=cpu_running, max_cpu_jobs=max_cpu).get(self.job_id)

    def create_run(self, job: JobInfo, command: list[str], env: dict[str, str]) -> Run:
        spec = job.spec
        snap = getattr(self, "snapshot", None) or self.inventory.snapshot()
        man = manifest.build(
            command=list(job.command), code=spec.code, env_kind=spec.env.kind,
            lock=list(spec.env.lock) if spec.env.lock is not None else None, interpreter=self.interpreter,
            job_env=env, gpus=snap, assigned=self.gpus, seed=spec.seed, datasets=list(spec.datasets),
            reproduces=spec.reproduces, notes=[*spec.notes, *self.notes],
        )
        prov = man.provenance(argv=command, cwd=str(self.cwd or ""), cuda_visible=env.get("CUDA_VISIBLE_DEVICES"))
        tags = {"labdeck.job": job.id}
        for d in spec.datasets:  # lineage: which runs used which version
            tags[f"labdeck.dataset.{d['name']}"] = str(d["version"])
        if spec.reproduces:
            tags[REPRODUCES_TAG] = spec.reproduces
        run = Run(job.project, run_id=job.run_id, name=spec.name or f"job-{job.id}",
                  experiment=spec.experiment or "launch", params={}, tags=tags,
                  record_provenance=False, extra_provenance=prov)
        for d in spec.datasets:
            if d.get("digest"):
                try:  # the datasets capability's lineage record
                    run.use_dataset(f"{d['name']}:{d['version']}", context="launch")
                except ValueError as exc:
                    self.log(f"dataset lineage not recorded: {exc}")
        self.update(run_dir=str(run.dir))
        return run

    def execute(self, job: JobInfo) -> int:
        env = job_environment(dict(os.environ), python=self.python, gpus=self.gpus, seed=job.spec.seed,
                              run_dir=None, run_id=job.run_id, job_id=job.id, venv=self.venv)
        command = job_command(list(job.command), self.python)
        self.run = self.create_run(job, command, env)
        env["LABDECK_RUN_DIR"] = str(self.run.dir)
        if self.dataset_paths:  # one variable per dataset, and all of them as JSON
            env["LABDECK_DATASETS"] = json.dumps(self.dataset_paths)
            env.update({launch_datasets.env_name(n): p for n, p in self.dataset_paths.items()})
        started = time.time()  # files in the working folder newer than this are the job's output
        out = open(self.run.dir / STDOUT_FILE, "ab")  # noqa: SIM115
        err = open(self.run.dir / STDERR_FILE, "ab")  # noqa: SIM115
        try:
            proc = subprocess.Popen(command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True)
        except FileNotFoundError:
            raise JobFailed(f"command not found: {command[0]!r}") from None
        except PermissionError:
            raise JobFailed(f"command is not executable: {command[0]!r}") from None
        finally:
            out.close()
            err.close()
        self.update(pgid=proc.pid)
        self.log(f"command started, pid {proc.pid}")
        cancelled = self._wait(proc)
        self.log(f"command ended with {proc.returncode}{' (cancelled)' if cancelled else ''}")
        code = proc.returncode
        kill_group(proc.pid, signal.SIGKILL)  # leftovers of the tree (daemons, workers) go too
        self._keep_outputs(started)
        if cancelled:
            why = "cancelled by the user" if self.job().cancel_requested else \
                "stopped: labdeck's runner was asked to stop (SIGTERM or SIGHUP)"
            self.run.end("killed", error=why)
            self.finish("cancelled", exit_code=code, message=why)
        elif code == 0:
            self.run.end("finished")
            self.finish("succeeded", exit_code=0)
        else:
            why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            self.run.end("failed", error=f"the command ended with {why}")
            self.finish("failed", exit_code=code, message=f"the command ended with {why}")
        return 0

    def _keep_outputs(self, started: float) -> None:
        """Other loggers' runs in the throw-away working folder move into the job's run."""
        if self.cwd is None or self.run is None:
            return
        try:
            collected = collect_outputs(Path(self.cwd), self.run.dir, since=started)
        except OSError as exc:
            self.log(f"could not keep the job's other runs: {exc}")
            return
        if collected:
            self.run.record_outputs(collected)
            self.log("kept runs written by other loggers: " + ", ".join(c["path"] for c in collected))

    def _wait(self, proc: subprocess.Popen) -> bool:
        cancelled_at: float | None = None
        while True:
            try:
                proc.wait(timeout=POLL_S)
                # The canceller may have signalled the group itself before we saw the request.
                return cancelled_at is not None or self._stopping()
            except subprocess.TimeoutExpired:
                pass
            if cancelled_at is None and self._stopping():
                cancelled_at = time.monotonic()
                kill_group(proc.pid, signal.SIGTERM)
            elif cancelled_at is not None and time.monotonic() - cancelled_at > KILL_GRACE_S:
                kill_group(proc.pid, signal.SIGKILL)

    def fail(self, message: str) -> None:
        self.log(f"failed: {message}")
        job = self.job()
        if self.run is None and job.status in jobsdb.ACTIVE:
            try:  # the run carries the message too, with whatever the manifest knew
                self.run = self.create_run(job, list(job.command), {})
            except Exception:  # noqa: BLE001 - the job row still says what went wrong
                traceback.print_exc()
        if self.run is not None and not self.run._ended:
            self.run.end("failed", error=message)
        self.finish("failed", message=message)

    def index(self) -> None:
        """Index the job's project so the run (and its metrics) are in the catalogue at once."""
        from labdeck.runs.indexer import index_project

        try:
            job = self.job()
            index_project(self.db, job.spec.index_project or job.project)
            self.log("project indexed")
        except Exception:  # noqa: BLE001 - the watcher or the next pass will catch up
            traceback.print_exc()


def _prewarm() -> None:
    """Import the readers (pandas, pyarrow: about a second) while the job runs, not after it."""
    try:
        from labdeck.runs.readers import all_readers

        all_readers()
    except Exception:  # noqa: BLE001 - index() reports any real problem
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labdeck.launch.runner")
    parser.add_argument("job")
    parser.add_argument("--index", required=True)
    args = parser.parse_args(argv)
    threading.Thread(target=_prewarm, name="prewarm", daemon=True).start()
    db = Database(Path(args.index))
    runner = Runner(db, args.job)
    signal.signal(signal.SIGTERM, runner.stop)
    signal.signal(signal.SIGHUP, runner.stop)
    try:
        return runner.main()
    finally:
        db.close()


if __name__ == "__main__":
    sys.exit(main())

