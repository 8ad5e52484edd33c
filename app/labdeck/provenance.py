"""What a run records about where it came from: command, code, interpreter, packages, machine.

Standard library only, and every probe is bounded in time: this runs inside training scripts.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys

PROBE_TIMEOUT_S = 5


def _run(args: list[str], cwd: str | None = None) -> str | None:
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(cwd: str) -> dict | None:
    """Commit, branch and dirtiness of the repository holding ``cwd`` (None outside git)."""
    if shutil.which("git") is None:
        return None
    commit = _run(["git", "rev-parse", "HEAD"], cwd)
    if commit is None:
        return None
    status = _run(["git", "status", "--porcelain", "--untracked-files=normal"], cwd) or ""
    branch = (_run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd) or "").strip()
    root = (_run(["git", "rev-parse", "--show-toplevel"], cwd) or "").strip()
    return {
        "commit": commit.strip(),
        "branch": branch,
        "root": root,
        "dirty": bool(status.strip()),
        "changed_files": len(status.splitlines()),
    }


def installed_packages() -> dict[str, str]:
    packages = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name] = dist.version
    return dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))


def gpus() -> list[dict]:
    """GPUs seen by nvidia-smi (empty without an NVIDIA driver)."""
    if shutil.which("nvidia-smi") is None:
        return []
    out = _run(
        [
            "nvidia-smi",
            "--query-gpu=name,uuid,driver_version,memory.total",
            "--format=csv,noheader,nounits",
        ]
    )
    found = []
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            found.append(
                {"name": parts[0], "uuid": parts[1], "driver": parts[2], "memory_mib": parts[3]}
            )
    return found


def collect(cwd: str | None = None) -> dict:
    cwd = cwd or os.getcwd()
    return {
        "argv": list(sys.argv),
        "cwd": cwd,
        "git": git_state(cwd),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": installed_packages(),
        "host": {
            "hostname": socket.gethostname(),
            "os": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "gpus": gpus(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }

