"""A job's process environment and command line: interpreter, GPU pinning, seeds, run folder."""

from __future__ import annotations

import os
from pathlib import Path

from labdeck.sdk import RUN_DIR_ENV

PYTHON_NAMES = ("python", "python3")
DETERMINISTIC_CUBLAS = ":4096:8"
# Variables of the launching shell that would leak another environment into the job.
DROP = ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "CONDA_PREFIX", RUN_DIR_ENV)


def job_environment(
    base: dict[str, str],
    *,
    python: Path,
    gpus: list[str],
    seed: int | None,
    run_dir: Path | None,
    run_id: str,
    job_id: str,
    venv: Path | None,
) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in DROP}
    bin_dir = str(python.parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
    # Pin by UUID in PCI order: indices would follow CUDA's own order and can differ from NVML's.
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)  # empty: no GPU for a CPU job
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", DETERMINISTIC_CUBLAS)
    env["PYTHONHASHSEED"] = str(seed if seed is not None else 0)
    if seed is not None:
        env["LABDECK_SEED"] = str(seed)
    else:
        env.pop("LABDECK_SEED", None)
    env["PYTHONUNBUFFERED"] = "1"  # output reaches the log as it is printed
    if run_dir is not None:  # the launcher sets it once the run exists
        env[RUN_DIR_ENV] = str(run_dir)
    env["LABDECK_RUN_ID"] = run_id
    env["LABDECK_JOB_ID"] = job_id
    return env


def job_command(command: list[str], python: Path) -> list[str]:
    """``python …`` means the job's interpreter, whatever ``python`` is on the user's PATH."""
    if command and command[0] in PYTHON_NAMES or (command and command[0].startswith("python3.")):
        return [str(python), *command[1:]]
    return list(command)
