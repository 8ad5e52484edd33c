"""Whether a helper process of a job runs on this machine. Helpers start as
``labdeck.helpers`` says (isolated from the user's modules)."""

from __future__ import annotations

from pathlib import Path


def helper_running(module: str, job_id: str) -> bool:
    """Whether a ``python -m module JOB_ID`` helper of this job runs on this machine (scans /proc)."""
    want = (module.encode(), job_id.encode())
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if all(w in argv for w in want):
            return True
    return False
