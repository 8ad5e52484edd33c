"""What MLflow's two stores (file store and SQLite) record alike about artifacts: where a
recorded artifact location is on this machine, and the status of a logged model (MLflow 3's
tracked artifact folders) as the proto enum number both keep."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

ARTIFACT_ROOT = "mlruns"  # MLflow's default artifact root, next to mlflow.db
MODEL_STATUSES: dict[Any, str] = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}  # proto enum ints


def local_path(uri: str | None) -> str | None:
    """The filesystem path of a local artifact URI (None for s3:, mlflow-artifacts:, ...)."""
    if not uri:
        return None
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path, or a Windows drive
        return uri
    return None


def resolve_file_store_artifacts(recorded: Any, local: Path) -> str | None:
    """The recorded artifact folder when it exists here, else the store's own copy (a store
    copied from another machine keeps artifacts next to the runs). None for remote ones."""
    uri = recorded if isinstance(recorded, str) else ""
    path = local_path(uri)
    remote = bool(uri) and path is None
    if path and os.path.isabs(path) and os.path.isdir(path):
        return path
    if remote and not local.is_dir():
        return None
    return str(local)


def resolve_db_store_artifacts(uri: str | None, base: Path) -> str | None:
    """Where an artifact URI of the SQLite store is on this machine.

    MLflow records absolute paths of the machine that wrote them; when the project was
    moved or copied, the part from the last ``mlruns`` component on is mapped under the
    folder holding mlflow.db (MLflow's default artifact root is ``./mlruns``). A run that
    logged no artifacts has no folder yet: it maps all the same."""
    recorded = local_path(uri)
    if recorded is None:
        return None
    parts = PurePosixPath(recorded.replace("\\", "/")).parts
    if ARTIFACT_ROOT in parts:
        at = len(parts) - 1 - parts[::-1].index(ARTIFACT_ROOT)
        local = base.joinpath(*parts[at:])
        if local.exists() or not os.path.exists(recorded):
            return str(local)
    return recorded
