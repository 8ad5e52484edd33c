"""Slurm as an engine: ``sbatch`` a generated batch script, follow it with ``scontrol``/``squeue``.

Status never depends on accounting: ``scontrol show job`` answers while the job is known to
the controller (``MinJobAge`` after it ends), ``sacct`` only where slurmdbd runs; after that
the monitor keeps the last state it saw and the job's own ``result.json``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from labdeck.db.jobs import JobInfo
from labdeck.launch.cluster_bundle import Bundle
from labdeck.launch.cluster_engine import Engine, EngineState, EngineUnreachable
from labdeck.launch.executor import SubmissionRejected
from labdeck.launch.executors_config import ExecutorConfig
from labdeck.launch.scheduler import GpuRequest

TIMEOUT_S = 20
QUEUED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "STOPPED", "RESIZING"}
# Final states other than COMPLETED/CANCELLED, in words a user reads on the job.
FAILURES = {
    "FAILED": "the job failed",
    "TIMEOUT": "Slurm stopped the job at its time limit",
    "NODE_FAIL": "the node running the job failed",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "BOOT_FAIL": "the node could not boot",
    "DEADLINE": "the job missed its deadline",
    "PREEMPTED": "the job was preempted",
}
_FIELD = re.compile(r"(\w+)=(\S*)")


def map_state(raw: str, reason: str = "", nodes: str = "") -> EngineState:
    state = raw.split()[0].rstrip("+") if raw else "UNKNOWN"
    if state in QUEUED:
        return EngineState("queued", state, reason, nodes)
    if state in RUNNING:
        return EngineState("running", state, reason, nodes)
    if state == "COMPLETED":
        return EngineState("succeeded", state, reason, nodes)
    if state == "CANCELLED":
        return EngineState("cancelled", state, reason, nodes)
    return EngineState("failed", state, FAILURES.get(state, reason) if not reason or reason == "None" else
                       f"{FAILURES.get(state, state)}: {reason}", nodes)


def batch_script(bundle: Bundle, job: JobInfo, cfg: ExecutorConfig, python: str) -> str:
    gpus = GpuRequest.from_json(job.spec.gpus)
    count = len(gpus.uuids) or gpus.count
    lines = ["#!/bin/bash", f"#SBATCH --job-name=labdeck-{job.id}", f"#SBATCH --chdir={bundle.root}",
             f"#SBATCH --output={bundle.root}/slurm-%j.out"]
    for option in ("partition", "account", "qos", "time"):
        if cfg.get(option):
            lines.append(f"#SBATCH --{option}={cfg.get(option)}")
    if count > 0:  # a CPU job asks for no GRES: a cluster without GPUs would reject it
        lines.append(f"#SBATCH --gres=gpu:{count}")
    resources = job.spec.resources
    if resources.cpus:
        lines.append(f"#SBATCH --cpus-per-task={int(resources.cpus)}")
    if resources.mem_gb:
        lines.append(f"#SBATCH --mem={max(1, round(resources.mem_gb * 1024))}M")
    lines += ["# written by labdeck: the job's code, datasets and manifest are in this folder",
              f"exec {shlex.quote(python)} -m labdeck.launch.cluster_job {shlex.quote(str(bundle.job_file))}", ""]
    return "\n".join(lines)


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise EngineUnreachable(f"{argv[0]} is not installed on this machine (Slurm's client tools)") from None
    except subprocess.TimeoutExpired:
        raise EngineUnreachable(f"{argv[0]} did not answer within {TIMEOUT_S} s") from None


def _error_text(done: subprocess.CompletedProcess) -> str:
    lines = [ln.removeprefix("sbatch: error: ").strip() for ln in (done.stderr or done.stdout).splitlines()]
    return "; ".join(ln for ln in lines if ln) or f"exit status {done.returncode}"


class SlurmEngine(Engine):
    kind = "slurm"

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg

    def cluster_name(self) -> str:
        try:
            done = _run(["scontrol", "show", "config"])
        except EngineUnreachable:
            return ""
        match = re.search(r"^ClusterName\s*=\s*(\S+)", done.stdout, re.M)
        return match.group(1) if match else ""

    def script_path(self, bundle: Bundle) -> Path:
        return bundle.root / "job.sbatch"

    def submit(self, bundle: Bundle, job: JobInfo, python: str) -> dict:
        script = self.script_path(bundle)
        script.write_text(batch_script(bundle, job, self.cfg, python), encoding="utf-8")
        try:
            done = _run(["sbatch", "--parsable", *shlex.split(self.cfg.get("extra")), str(script)])
        except EngineUnreachable as exc:
            raise SubmissionRejected(f"cannot submit to Slurm: {exc}") from None
        if done.returncode != 0:
            raise SubmissionRejected(f"Slurm rejected the job: {_error_text(done)}")
        job_id = done.stdout.strip().split(";")[0]
        return {"id": job_id, "cluster": self.cluster_name(), "script": str(script)}

    def state(self, info: dict) -> EngineState | None:
        done = _run(["scontrol", "show", "job", "-o", str(info["id"])])
        if done.returncode == 0 and "JobState=" in done.stdout:
            fields = dict(_FIELD.findall(done.stdout))
            nodes = fields.get("NodeList", "")
            return map_state(fields.get("JobState", ""), fields.get("Reason", ""), "" if nodes == "(null)" else nodes)
        if "Invalid job id" not in (done.stderr + done.stdout):
            raise EngineUnreachable(f"scontrol: {_error_text(done)}")
        return self._from_accounting(str(info["id"]))

    def _from_accounting(self, job_id: str) -> EngineState | None:
        """sacct, where slurmdbd keeps accounting; None where it does not."""
        try:
            done = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,Reason,NodeList"])
        except EngineUnreachable:
            return None
        rows = [r.split("|") for r in done.stdout.splitlines() if r.strip()]
        if done.returncode != 0 or not rows:
            return None
        raw, reason, nodes = (rows[0] + ["", "", ""])[:3]
        return map_state(raw, reason, nodes)

    def cancel(self, info: dict) -> None:
        done = _run(["scancel", str(info["id"])])
        if done.returncode != 0:
            raise EngineUnreachable(f"scancel: {_error_text(done)}")
