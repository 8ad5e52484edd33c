"""What a cluster job needs, laid out on a path the compute nodes share with this machine.

``<shared>/<job id>/`` holds ``code/`` (the snapshot, materialised), ``datasets/`` (the
dataset versions, checked out), ``job.json`` (command, seed, environment, where the run goes)
and, once the job has run, ``run_dir.txt`` and ``result.json``, written by the job itself
(``labdeck.launch.cluster_job``). The default shared path is inside the project folder, so a
cluster without a shared home still works when the project is on shared storage.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from labdeck.db.engine import Database
from labdeck.db.jobs import JobInfo
from labdeck.launch import datasets as launch_datasets
from labdeck.launch import gitsnap

SHARED_FOLDER = ".labdeck-cluster"  # the default shared path, inside the project (not walked for runs)
JOB_FILE = "job.json"
RESULT_FILE = "result.json"
RUN_DIR_FILE = "run_dir.txt"


class BundleError(ValueError):
    """The job's code or datasets cannot be laid out for the cluster (message for the user)."""


@dataclass(frozen=True)
class Bundle:
    root: Path

    @property
    def job_file(self) -> Path:
        return self.root / JOB_FILE

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def spec(self) -> dict:
        return json.loads(self.job_file.read_text(encoding="utf-8"))

    def run_dir(self) -> str:
        try:
            return (self.root / RUN_DIR_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def result(self) -> dict | None:
        try:
            return json.loads((self.root / RESULT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def shared_root(option: str, job: JobInfo) -> Path:
    """The executor's ``--shared`` path, else ``<project>/.labdeck-cluster``."""
    if option:
        return Path(option)
    return Path(job.spec.get("index_project") or job.project) / SHARED_FOLDER


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


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
        cwd = gitsnap.materialise(gitsnap.CodeSnapshot.from_json(spec["code"]), bundle.code)
        datasets = launch_datasets.checkout_all(db, spec.get("datasets", []), bundle.root / "datasets")
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
        "spec": {k: spec.get(k) for k in ("code", "env", "gpus", "seed", "datasets", "reproduces", "notes", "name",
                                          "experiment")},
    })
    return bundle
