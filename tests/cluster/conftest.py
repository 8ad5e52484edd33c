"""Real one-node Slurm and Ray clusters, started by ``scripts/cluster`` once per session.

An engine that is not installed here skips its tests with the reason; ``.ci/run`` installs
both, so CI runs them. An engine that was already up is left up; one the session started is
stopped at its end (``scripts/cluster down``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "scripts" / "cluster"
RAY_BIN = REPO / ".venv-ray" / "bin" / "ray"
RAY_ADDRESS = "http://127.0.0.1:8265"

TRAIN = '''\
import random
import sys

import labdeck
from labdeck.sdk import seed_everything

seed_everything()
print("training starts", flush=True)
with labdeck.start_run(".", params={"scale": 0.01}) as run:
    w = random.random()
    for step in range(30):
        w = w * 0.9 + random.random() * 0.01
        run.log({"loss": w}, step=step)
print("done", w, flush=True)
'''

LONG = '''\
import time

for i in range(600):
    print("tick", i, flush=True)
    time.sleep(0.1)
'''


def _status() -> str:
    return subprocess.run([str(CLUSTER), "status"], capture_output=True, text=True, check=False).stdout


def _engine(name: str, present: bool, missing: str):
    if not present:
        if os.environ.get("LABDECK_REQUIRE_CLUSTERS"):  # CI: a missing engine is a failure, not a skip
            pytest.fail(f"{name} is not installed here ({missing})")
        pytest.skip(f"{name} is not installed here ({missing}); .ci/run installs it")
    was_up = f"{name}: up" in _status() or (name == "slurm" and "slurm: debug" in _status())
    done = subprocess.run([str(CLUSTER), "up", name], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/cluster up {name} failed: {done.stderr.strip()}")
    return was_up


@pytest.fixture(scope="session")
def _clusters_down_at_end():
    started: list[str] = []
    yield started
    if started:
        subprocess.run([str(CLUSTER), "down"], capture_output=True, check=False)


@pytest.fixture(scope="session")
def slurm_cluster(_clusters_down_at_end):
    if not _engine("slurm", shutil.which("slurmctld") is not None and shutil.which("munged") is not None,
                   "apt-get install slurm-wlm munge"):
        _clusters_down_at_end.append("slurm")
    return {"kind": "slurm", "partition": "debug"}


@pytest.fixture(scope="session")
def ray_cluster(_clusters_down_at_end):
    if not _engine("ray", RAY_BIN.exists(), "python3 -m venv .venv-ray && .venv-ray/bin/pip install 'ray[default]'"):
        _clusters_down_at_end.append("ray")
    return {"kind": "ray", "address": RAY_ADDRESS}


@pytest.fixture(params=["slurm", "ray"])
def cluster(request):
    """An executor named ``c`` on each real engine, in this test's labdeck home."""
    from labdeck.launch import executors_config

    engine = request.getfixturevalue(f"{request.param}_cluster")
    options = {k: v for k, v in engine.items() if k != "kind"}
    executors_config.add("c", engine["kind"], options)
    return engine["kind"]


def run_git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    run_git(root, "init", "-q")
    run_git(root, "config", "user.email", "t@example.com")
    run_git(root, "config", "user.name", "Test")
    (root / "train.py").write_text(TRAIN)
    (root / "long.py").write_text(LONG)
    run_git(root, "add", ".")
    run_git(root, "commit", "-qm", "initial")
    return root


@pytest.fixture
def ws(tmp_path):
    from labdeck.launch import control
    from labdeck.workspace import Workspace

    workspace = Workspace(tmp_path / "index.sqlite")
    yield workspace
    for job in control.jobs(workspace):  # a failed assertion must not leave jobs on the cluster
        if not job.finished:
            control.cancel(workspace, job.id)
    workspace.close()
