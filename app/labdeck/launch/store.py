"""A small content-addressed store for code snapshots (diffs, untracked files).

Blobs live at ``data_dir()/launch/snapshots/<sha256[:2]>/<sha256>``, written by
temp-file-and-rename and never modified, so a manifest's hash always finds its bytes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from labdeck.errors import UserError
from labdeck.paths import data_dir


def store_dir() -> Path:
    return data_dir() / "launch" / "snapshots"


def blob_path(digest: str) -> Path:
    return store_dir() / digest[:2] / digest


def put(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = blob_path(digest)
    if path.exists():
        return digest
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{digest}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return digest


class SnapshotMissing(UserError, KeyError):
    """A job's code snapshot is gone from the store or damaged (still a KeyError for older callers)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def get(digest: str) -> bytes:
    path = blob_path(digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SnapshotMissing(f"snapshot {digest[:12]} is not in the store ({store_dir()})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise SnapshotMissing(f"snapshot {digest[:12]} in {path} is corrupt (its hash does not match)")
    return data


def has(digest: str) -> bool:
    return blob_path(digest).is_file()
