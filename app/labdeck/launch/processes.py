"""Processes of a job: is one alive, which group is the job's, stop a group.

Kept apart from the executors (and free of the index's imports) because the job's side on a
cluster node uses them too, and its start-up is on the way to the job's first line.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this very process counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


RUNNER_MODULE = "labdeck.launch.runner"


def helper_alive(pid: int | None, module: str, job_id: str) -> bool:
    """``pid`` is still ``python -m module JOB_ID`` of this job (a recycled pid, e.g. after a
    reboot, does not count)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc to ask: trust the pid
    return module.encode() in cmdline and job_id.encode() in cmdline


def runner_alive(pid: int | None, job_id: str) -> bool:
    return helper_alive(pid, RUNNER_MODULE, job_id)


def job_group(pgid: int | None, job_id: str) -> int | None:
    """``pgid`` if its leader is still the job's command (its environment names the job), else None."""
    if not pgid:
        return None
    try:
        environ = Path(f"/proc/{pgid}/environ").read_bytes()
    except OSError:
        return None  # gone, or not ours to read: never signal a group we cannot recognise
    return pgid if f"LABDECK_JOB_ID={job_id}".encode() in environ.split(b"\0") else None


def kill_group(pgid: int | None, sig: int = signal.SIGTERM) -> bool:
    """Signal a whole process group; False when it no longer exists."""
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True
