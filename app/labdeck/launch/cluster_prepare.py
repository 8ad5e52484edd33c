"""Laying a cluster job out on the shared path at submission (see ``cluster_bundle``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.launch import datasets as launch_datasets
from labdeck.launch import gitsnap
from labdeck.launch.cluster_bundle import SHARED_FOLDER, Bundle, write_json


class BundleError(ValueError):
    """The job's code or datasets cannot be laid out for the cluster (message for the user)."""


def shared_root(option: str, job: JobInfo) -> Path:
    """The executor's ``--shared`` path, else ``<project>/.labdeck-cluster``."""
    if option:
        return Path(option)
    return Path(job.spec.index_project or job.project) / SHARED_FOLDER


def prepare(db: Database, job: JobInfo, root: Path, *, executor: str, kind: str, python: str,
            results_here: bool) -> Bundle:
    """Lay the job out under ``root/<job id>``; ``results_here``: the run is written into the
    bundle (and copied back by the monitor) rather than straight into the project."""
    bundle = Bundle(root / job.id)
    spec = job.spec
    try:
        root.mkdir(parents=True, exist_ok=True)
        ignore = root / ".gitignore"
        if not ignore.exists():  # inside the project: never part of a later job's code snapshot
            ignore.write_text("# labdeck's cluster job folders\n*\n", encoding="utf-8")
        bundle.root.mkdir(exist_ok=False)
        cwd = gitsnap.materialise(gitsnap.CodeSnapshot.from_json(spec.code), bundle.code)
        datasets = launch_datasets.checkout_all(db, list(spec.datasets), bundle.root / "datasets")
    except FileExistsError:
        raise BundleError(f"{bundle.root} exists already") from None
    except (gitsnap.SnapshotError, launch_datasets.DatasetError, KeyError, OSError) as exc:
        raise BundleError(f"cannot lay the job out in {root}: {exc}") from None
    if results_here:
        bundle.results.mkdir()
    write_json(bundle.job_file, {
        "job_id": job.id,
        "run_id": job.run_id,
        "command": list(job.command),
        "cwd_rel": os.path.relpath(cwd, bundle.code),
        "run_home": str(bundle.results if results_here else job.project),
        "python": python or sys.executable,
        "executor": executor,
        "kind": kind,
        "datasets": datasets,
        # What the job needs on the node; where it was launched from (launcher) stays here.
        "spec": spec.but(launcher=None, index_project=None, cluster=None).to_json(),
    })
    return bundle
