"""What a cluster job needs, laid out on a path the compute nodes share with this machine.

``<shared>/<job id>/`` holds ``code/`` (the snapshot, materialised), ``datasets/`` (the
dataset versions, checked out), ``job.json`` (command, seed, environment, where the run goes)
and, once the job has run, ``run_dir.txt`` and ``result.json``, written by the job itself
(``labdeck.launch.cluster_job``). The default shared path is inside the project folder, so a
cluster without a shared home still works when the project is on shared storage.

This module is what the node needs to find its way in a bundle, and nothing more (the job's
start-up on the node imports it); ``cluster_prepare`` lays a bundle out at submission.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


SHARED_FOLDER = ".labdeck-cluster"  # the default shared path, inside the project (not walked for runs)
JOB_FILE = "job.json"
RESULT_FILE = "result.json"
RUN_DIR_FILE = "run_dir.txt"


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


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
