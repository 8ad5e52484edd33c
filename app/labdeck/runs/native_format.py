"""labdeck's own run format on disk (written by ``labdeck.sdk``, read by ``readers/native.py``).

A run is a folder ``<project>/labdeck-runs/<YYYYmmdd-HHMMSS>-<id8>/`` holding:

- ``labdeck-run.json``: written once, atomically, when the run starts: id, name,
  experiment, start time, params, tags, parent, provenance.

A run folder is made under a hidden staging name (``.<name>.starting``) with its meta, lock
and empty logs, then renamed into place: a writer killed while starting leaves no visible
folder without a meta file, so every run folder the walk sees is a run. The walk skips
staging folders.
- ``metrics.csv``: append-only, one point per line: ``key,step,value,wall_ms`` (RFC 4180
  quoting for keys with commas or quotes; values ``nan``, ``inf``, ``-inf`` allowed).
- ``events.jsonl``: append-only JSON lines for everything else: ``params``, ``tags``,
  ``artifact`` and ``end`` (with the final status) events.
- ``labdeck-run.lock``: ``host pid`` while the run is alive; removed when it ends. A lock
  whose process is gone marks a run that was killed.
- ``artifacts/``: copies of logged artifacts.
- ``outputs/``: for a job launched by labdeck, the runs other loggers (TensorBoard, MLflow,
  Lightning, the HF Trainer) wrote in the job's working folder, copied here when it ends and
  indexed as runs of their own (an ``outputs`` event lists them).

Every line is written with a single ``write`` on an ``O_APPEND`` descriptor, so a run
killed at any moment loses at most the line being written, and readers ignore a last line
that has no newline yet. Only the standard library is used here: training scripts import it.
"""

from __future__ import annotations

import os
import socket

RUNS_FOLDER = "labdeck-runs"
META_FILE = "labdeck-run.json"
METRICS_FILE = "metrics.csv"
EVENTS_FILE = "events.jsonl"
LOCK_FILE = "labdeck-run.lock"
ARTIFACTS_FOLDER = "artifacts"
OUTPUTS_FOLDER = "outputs"
METRICS_HEADER = b"key,step,value,wall_ms\n"
FORMAT_NAME = "labdeck-run"
FORMAT_VERSION = 1
END_STATUSES = ("finished", "failed", "killed")
STAGING_SUFFIX = ".starting"


def staging_name(name: str) -> str:
    return f".{name}{STAGING_SUFFIX}"


def is_staging(name: str) -> bool:
    return name.startswith(".") and name.endswith(STAGING_SUFFIX)


def lock_text() -> str:
    return f"{socket.gethostname()} {os.getpid()}\n"


def lock_is_stale(text: str) -> bool:
    """True when the lock names a process on this host that no longer exists."""
    try:
        host, pid_text = text.split()
        pid = int(pid_text)
    except ValueError:
        return False  # unreadable lock: we cannot tell, so do not call the run dead
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False
