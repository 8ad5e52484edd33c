"""A job's manifest: everything needed to run it again, recorded before the command starts.

It goes into the run's ``labdeck-run.json`` under ``provenance.manifest`` as the typed record
``db.run_manifest.Manifest`` writes it; ``labdeck.launch.reproduce`` and the model cards read
it back with ``Manifest.from_json``.
"""

from __future__ import annotations

import os
import platform
import socket
from typing import Any

from labdeck.db.run_manifest import ClusterRecord, EnvRecord, GpuRecord, Interpreter, Manifest
from labdeck.launch.gpus import InventorySnapshot, snapshot_json

# Variables that change what a training computes; secrets and paths stay out.
ENV_ALLOW = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONHASHSEED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_CUDNN_V8_API_ENABLED",
    "TF_DETERMINISTIC_OPS",
    "LABDECK_SEED",
    "TZ",
    "LANG",
    "LC_ALL",
)


def allowed_env(env: dict[str, str]) -> dict[str, str]:
    return {k: env[k] for k in ENV_ALLOW if k in env}


def machine() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
    }


def build(
    *,
    command: list[str],
    code: dict,
    env_kind: str,
    lock: list[str] | None,
    interpreter: dict,
    job_env: dict[str, str],
    gpus: InventorySnapshot,
    assigned: list[str],
    seed: int | None,
    datasets: list[dict],
    reproduces: str | None = None,
    notes: list[str] | None = None,
    cluster: ClusterRecord | None = None,
) -> Manifest:
    """``cluster``: for a Slurm or Ray job, where it ran (absent for a local job)."""
    inventory = snapshot_json(gpus)
    return Manifest(
        command=tuple(command), code=dict(code),
        env=EnvRecord(env_kind, tuple(lock) if lock is not None else None, allowed_env(job_env)),
        python=Interpreter.from_json(interpreter),
        packages=tuple(interpreter.get("packages", [])), machine=machine(),
        gpus=GpuRecord(tuple(g for g in inventory["gpus"] if g["uuid"] in assigned), inventory, gpus.driver, gpus.cuda),
        seed=seed,
        determinism={
            "PYTHONHASHSEED": job_env.get("PYTHONHASHSEED"),
            "CUBLAS_WORKSPACE_CONFIG": job_env.get("CUBLAS_WORKSPACE_CONFIG"),
            "seed_everything": "labdeck.sdk.seed_everything turns on torch deterministic algorithms",
        },
        datasets=tuple(datasets), reproduces=reproduces, notes=tuple(notes or ()), cluster=cluster,
    )
