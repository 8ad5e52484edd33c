"""The cluster side of a job: ``python -m labdeck.launch.cluster_job BUNDLE/job.json [--code DIR]``.

Slurm's batch script or Ray's entrypoint runs this on the compute node. It never touches the
index (the node may not see it): it records the manifest as seen *inside* the job (node, GPU
models and UUIDs, the engine's job id), writes the run where ``job.json`` says, runs the
command with its output in the run folder, and leaves ``result.json`` for labdeck's monitor.
When the engine stops the job (``scancel``, ``ray job stop``, a time limit) it gets SIGTERM:
the command's process group is stopped and the run ends as killed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from labdeck.launch import envs, manifest
from labdeck.launch.cluster_bundle import RESULT_FILE, RUN_DIR_FILE, write_json
from labdeck.launch.gpus import InventorySnapshot, default_inventory
from labdeck.launch.jobenv import job_command, job_environment
from labdeck.launch.processes import kill_group
from labdeck.sdk import Run
from labdeck.db.job_spec import JobSpec
from labdeck.db.run_manifest import ClusterRecord

STDOUT_FILE = "stdout.log"  # as the local runner names them (jobs logs reads these)
STDERR_FILE = "stderr.log"
REPRODUCES_TAG = "labdeck.reproduces"
KILL_GRACE_S = 3.0


def visible_gpus(snap: InventorySnapshot, env: Mapping[str, str]) -> list[str]:
    """UUIDs of the GPUs this job may use: the engine's CUDA_VISIBLE_DEVICES (indices or UUIDs)."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return [g.uuid for g in snap.gpus]
    wanted = [v.strip() for v in visible.split(",") if v.strip()]
    return [g.uuid for g in snap.gpus if str(g.index) in wanted or g.uuid in wanted]


def engine_identity(kind: str, env: Mapping[str, str]) -> dict[str, str | None]:
    """The engine's own names for this job and where it runs."""
    if kind == "slurm":
        return {"job_id": env.get("SLURM_JOB_ID"), "cluster": env.get("SLURM_CLUSTER_NAME"),
                "nodes": env.get("SLURM_JOB_NODELIST") or socket.gethostname(),
                "partition": env.get("SLURM_JOB_PARTITION")}
    return {"submission_id": env.get("LABDECK_RAY_SUBMISSION_ID"), "nodes": socket.gethostname(),
            "cluster": env.get("LABDECK_RAY_ADDRESS")}


class ClusterJob:
    def __init__(self, job_file: Path, code: Path | None) -> None:
        self.bundle = job_file.parent
        self.job = json.loads(job_file.read_text(encoding="utf-8"))
        self.spec = JobSpec.from_json(self.job.get("spec"))
        self.code = (code or self.bundle / "code").resolve()
        self.cwd = (self.code / self.job.get("cwd_rel", ".")).resolve()
        self.stop_reason = ""
        self.run: Run | None = None

    def stop(self, signum, _frame) -> None:
        self.stop_reason = f"stopped by the cluster ({signal.Signals(signum).name})"

    def interpreter(self, notes: list[str]) -> tuple[Path, Path | None]:
        env = self.spec.env
        if env.kind == "locked":
            lock = envs.Lock(tuple(env.lock or ()), env.python)
            venv, reused = envs.ensure_env(lock, log=lambda text: print(text, flush=True))
            notes.append(f"environment {lock.digest} {'reused from the cache' if reused else 'built by uv'}")
            return envs.env_python(venv), venv
        return Path(sys.executable), None

    def create_run(self, python: Path, venv: Path | None, env: dict[str, str], notes: list[str]) -> Run:
        spec, job = self.spec, self.job
        snap = default_inventory().snapshot()
        gpus = visible_gpus(snap, os.environ)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        seen = [{"name": g.name, "uuid": g.uuid} for g in snap.gpus if g.uuid in gpus]
        cluster = ClusterRecord(job["executor"], job["kind"], engine_identity(job["kind"], os.environ),
                                         tuple(seen), snap.driver, spec.resources)
        interpreter = envs.describe_interpreter(python)
        man = manifest.build(
            command=list(job["command"]), code=spec.code, env_kind=spec.env.kind,
            lock=list(spec.env.lock) if spec.env.lock is not None else None, interpreter=interpreter, job_env=env,
            gpus=snap, assigned=gpus, seed=spec.seed, datasets=list(spec.datasets), reproduces=spec.reproduces,
            notes=[*spec.notes, *notes], cluster=cluster,
        )
        prov = man.provenance(argv=job["command"], cwd=str(self.cwd), cuda_visible=env.get("CUDA_VISIBLE_DEVICES"))
        tags = {"labdeck.job": job["job_id"], "labdeck.executor": job["executor"]}
        for d in spec.datasets:
            tags[f"labdeck.dataset.{d['name']}"] = str(d["version"])
        if spec.reproduces:
            tags[REPRODUCES_TAG] = spec.reproduces
        return Run(job["run_home"], run_id=job["run_id"], name=spec.name or f"job-{job['job_id']}",
                   experiment=spec.experiment or "launch", params={}, tags=tags, record_provenance=False,
                   extra_provenance=prov)

    def main(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        notes: list[str] = []
        try:
            python, venv = self.interpreter(notes)
        except envs.EnvError as exc:
            return self.done("failed", None, f"cannot build the environment on {socket.gethostname()}: {exc}")
        env = job_environment(dict(os.environ), python=python, gpus=[], seed=self.spec.seed, run_dir=None,
                              run_id=self.job["run_id"], job_id=self.job["job_id"], venv=venv)
        env.pop("CUDA_VISIBLE_DEVICES")  # create_run sets what the engine gave
        self.run = self.create_run(python, venv, env, notes)
        (self.bundle / RUN_DIR_FILE).write_text(str(self.run.dir), encoding="utf-8")
        env["LABDECK_RUN_DIR"] = str(self.run.dir)
        if self.job.get("datasets"):
            from labdeck.launch.datasets import env_name

            env["LABDECK_DATASETS"] = json.dumps(self.job["datasets"])
            env.update({env_name(n): p for n, p in self.job["datasets"].items()})
        command = job_command(list(self.job["command"]), python)
        started = time.time()
        with open(self.run.dir / STDOUT_FILE, "ab") as out, open(self.run.dir / STDERR_FILE, "ab") as err:
            try:
                proc = subprocess.Popen(command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True)
            except OSError as exc:
                return self.done("failed", None, f"cannot start {command[0]!r}: {exc}")
        code = self.wait(proc)
        kill_group(proc.pid, signal.SIGKILL)
        from labdeck.launch.outputs import collect_outputs  # the readers: needed only now, after the job

        try:
            collected = collect_outputs(self.cwd, self.run.dir, since=started)
            if collected:
                self.run.record_outputs(collected)
        except OSError as exc:
            print(f"could not keep the job's other runs: {exc}", file=sys.stderr)
        if self.stop_reason:
            return self.done("cancelled", code, self.stop_reason)
        if code == 0:
            return self.done("succeeded", 0, "")
        why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return self.done("failed", code, f"the command ended with {why}")

    def wait(self, proc: subprocess.Popen) -> int:
        signalled_at: float | None = None
        while True:
            try:
                return proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            if self.stop_reason and signalled_at is None:
                signalled_at = time.monotonic()
                kill_group(proc.pid, signal.SIGTERM)
            elif signalled_at is not None and time.monotonic() - signalled_at > KILL_GRACE_S:
                kill_group(proc.pid, signal.SIGKILL)

    def done(self, status: str, exit_code: int | None, message: str) -> int:
        if self.run is not None and not self.run._ended:  # noqa: SLF001 - the training may have ended it
            self.run.end({"succeeded": "finished", "cancelled": "killed"}.get(status, "failed"), error=message or None)
        write_json(self.bundle / RESULT_FILE, {"status": status, "exit_code": exit_code, "message": message,
                                               "run_dir": str(self.run.dir) if self.run else ""})
        return 0 if status == "succeeded" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labdeck.launch.cluster_job")
    parser.add_argument("job_file", type=Path)
    parser.add_argument("--code", type=Path, help="the code's folder (Ray's working_dir); default BUNDLE/code")
    args = parser.parse_args(argv)
    return ClusterJob(args.job_file, args.code).main()


if __name__ == "__main__":
    sys.exit(main())
