"""Launch test set-up: real git repositories with a small deterministic training script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TRAIN = '''\
import random
import sys

import labdeck
from labdeck.sdk import seed_everything

from helper import SCALE  # untracked file in some tests, committed in others

seed_everything()
print("training starts", sys.executable, flush=True)
with labdeck.start_run(".", params={"scale": SCALE}) as run:
    w = random.random()
    for step in range(30):
        w = w * 0.9 + random.random() * SCALE
        run.log({"loss": w, "acc": 1.0 - w / 10}, step=step)
print("done", w, flush=True)
'''


def run_git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git():
    return run_git


@pytest.fixture
def repo(tmp_path) -> Path:
    """A committed repository with train.py and helper.py."""
    root = tmp_path / "repo"
    root.mkdir()
    run_git(root, "init", "-q")
    run_git(root, "config", "user.email", "t@example.com")
    run_git(root, "config", "user.name", "Test")
    (root / "train.py").write_text(TRAIN)
    (root / "helper.py").write_text("SCALE = 0.01\n")
    run_git(root, "add", ".")
    run_git(root, "commit", "-qm", "initial")
    return root


@pytest.fixture
def cli(tmp_path, capsys):
    """Run a labdeck verb in-process against one index; returns (exit status, stdout, stderr)."""
    from labdeck.cli import run_cli

    index = tmp_path / "index.sqlite"

    def call(*argv: str, parse: bool = False):
        try:
            code = run_cli([argv[0], "--index", str(index), *argv[1:]])
        except SystemExit as exc:  # argparse rejects an option's value as the real process would: exit 2
            code = exc.code
        out, err = capsys.readouterr()
        if parse:
            return code, json.loads(out), err
        return code, out, err

    call.index = index
    return call


@pytest.fixture
def fake_gpus(tmp_path, monkeypatch):
    """A fake NVML inventory for this process and every runner it starts."""
    path = tmp_path / "gpus.json"

    def set_gpus(gpus: list[dict]) -> Path:
        path.write_text(json.dumps(gpus))
        monkeypatch.setenv("LABDECK_GPU_INVENTORY", f"fake:{path}")
        return path

    return set_gpus


PYTHON = sys.executable


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test(tmp_path):
    """Cancel whatever a test left queued or running (a failed assertion must not leave processes)."""
    yield
    index = tmp_path / "index.sqlite"
    if not index.exists():
        return
    from labdeck.launch import control
    from labdeck.workspace import Workspace

    ws = Workspace(index)
    try:
        for job in control.jobs(ws):
            if not job.finished:
                control.cancel(ws, job.id)
    finally:
        ws.close()
