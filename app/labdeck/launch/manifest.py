"""A job's manifest: everything needed to run it again, recorded before the command starts.

It goes into the run's ``labdeck-run.json`` under ``provenance.manifest`` (format version
``MANIFEST_VERSION``); ``labdeck.launch.reproduce`` reads it back.
"""

from __future__ import annotations

import os
import platform
import socket

from labdeck.launch.gpus import InventorySnapshot, snapshot_json

MANIFEST_VERSION = 1

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


def machine() -> dict:
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
    cluster: dict | None = None,
) -> dict:
    """``cluster``: for a Slurm or Ray job, the executor, cluster name, node(s), the engine's job
    id and the GPUs seen inside the job (absent for a local job)."""
    assigned_info = [g for g in snapshot_json(gpus)["gpus"] if g["uuid"] in assigned]
    return {
        "version": MANIFEST_VERSION,
        "command": list(command),
        "code": code,
        "cwd": code.get("cwd", "."),
        "env": {"kind": env_kind, "lock": lock, "variables": allowed_env(job_env)},
        "python": {k: interpreter.get(k) for k in ("python", "implementation", "executable")},
        "packages": interpreter.get("packages", []),
        "machine": machine(),
        "gpus": {
            "assigned": assigned_info,
            "inventory": snapshot_json(gpus),
            "driver": gpus.driver,
            "cuda": gpus.cuda,
        },
        "seed": seed,
        "determinism": {
            "PYTHONHASHSEED": job_env.get("PYTHONHASHSEED"),
            "CUBLAS_WORKSPACE_CONFIG": job_env.get("CUBLAS_WORKSPACE_CONFIG"),
            "seed_everything": "labdeck.sdk.seed_everything turns on torch deterministic algorithms",
        },
        "datasets": datasets,
        "reproduces": reproduces,
        "notes": list(notes or []),
        **({"cluster": cluster} if cluster else {}),
    }
