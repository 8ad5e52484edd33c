"""Dataset versions for jobs: resolved at launch, checked out byte-for-byte into the job's work area.

Uses ``labdeck.datasets`` (its ``Datasets`` service) when that capability is present; without
it a reference is only recorded in the manifest, and the plan of a reproduction says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.db.engine import Database
from labdeck.tasks import Task

if TYPE_CHECKING:
    from labdeck.datasets.service import Datasets


class DatasetError(ValueError):
    """A dataset reference that cannot be served (message for the user)."""


def _service(db: Database) -> Datasets:
    from labdeck.datasets.service import Datasets  # here: a launch without datasets never pays for it

    return Datasets(db)


def resolve(db: Database, ref: str) -> dict:
    """``NAME:VERSION`` → the version's record (name, version, digest) for the manifest."""
    name, sep, version = ref.partition(":")
    if not sep or not name or not version:
        raise DatasetError(f"--dataset {ref!r}: write NAME:VERSION")
    service = _service(db)
    try:
        number = int(version.lstrip("v"))
    except ValueError:
        raise DatasetError(f"--dataset {ref!r}: the version is a number (e.g. {name}:3)") from None
    try:
        v = service.version(name, number)
    except LookupError as exc:
        raise DatasetError(str(exc.args[0] if exc.args else exc)) from None
    return {"name": v.dataset, "version": v.version, "digest": v.digest, "files": v.file_count,
            "bytes": v.total_bytes, "checked_out": True}


def env_name(name: str) -> str:
    return "LABDECK_DATASET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def checkout_all(db: Database, datasets: list[dict], dest: Path, task: Task | None = None) -> dict[str, str]:
    """Check each resolved version out under ``dest/NAME``; {name: folder}. Verifies the digest."""
    paths: dict[str, str] = {}
    todo = [d for d in datasets if d.get("digest")]
    if not todo:
        return paths
    service = _service(db)
    for d in todo:
        try:
            v = service.version(d["name"], int(d["version"]))
        except LookupError as exc:
            raise DatasetError(str(exc.args[0] if exc.args else exc)) from None
        if v.digest != d["digest"]:
            raise DatasetError(f"dataset {d['name']} version {d['version']} is not the recorded one "
                               f"(digest {v.digest[:12]}, recorded {d['digest'][:12]})")
        target = dest / re.sub(r"[^A-Za-z0-9._-]", "_", d["name"])
        try:
            service.checkout(d["name"], int(d["version"]), target, task=task)
        except Exception as exc:  # noqa: BLE001 - StoreError and I/O errors: the message says what
            raise DatasetError(f"cannot check out {d['name']}:{d['version']}: {exc}") from None
        paths[d["name"]] = str(target)
    return paths
