"""Files labdeck creates follow the user's umask: read-only may remove bits, never add them.

Each test runs under ``umask 077`` (the process's and every process it starts), then looks at
the mode of every file and folder labdeck wrote: none may be readable by group or others.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from labdeck.models import hashing
from labdeck.models.registries.base import PushRequest
from labdeck.models.registries.folder import FolderRegistry
from labdeck.paths import data_dir

LABDECK = str(Path(sys.executable).with_name("labdeck"))


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _too_open(root: Path) -> list[str]:
    """Paths below ``root`` (itself included) that group or others may read, write or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(root)} {stat.filemode(mode)}")
    return found


# Registry --------------------------------------------------------------------------------------


def test_registry_blobs_and_manifests_follow_the_umask(tmp_path, umask_077):
    src = tmp_path / "model"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "weights.bin").write_bytes(b"w" * 10_000)
    reg = FolderRegistry(f"folder://{tmp_path / 'reg'}")
    digest = hashing.digest_path(src)
    reg.push(PushRequest(name="m", local_version=1, root=src, digest=digest, alias="prod"))
    assert _too_open(tmp_path / "reg") == []
    blobs = [p for p in (tmp_path / "reg" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 2 and {stat.S_IMODE(p.stat().st_mode) for p in blobs} == {0o400}  # read-only, 0444 & ~077
    pulled = reg.pull("m", "prod", tmp_path / "pulled")
    assert _too_open(pulled.path) == []


def test_registry_blobs_stay_0444_under_the_usual_umask(tmp_path):
    old = os.umask(0o022)
    try:
        src = tmp_path / "w.bin"
        src.write_bytes(b"x" * 100)
        reg = FolderRegistry(f"folder://{tmp_path / 'reg'}")
        reg.push(PushRequest(name="m", local_version=1, root=src, digest=hashing.digest_path(src)))
    finally:
        os.umask(old)
    (blob,) = [p for p in (tmp_path / "reg" / "blobs").rglob("*") if p.is_file()]
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444


# Launch ----------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_everything_a_job_writes_in_labdecks_folders_follows_the_umask(tmp_path, umask_077, monkeypatch):
    project = tmp_path / "proj"
    project.mkdir()
    _git(project, "init", "-q")
    _git(project, "config", "user.email", "t@example.com")
    _git(project, "config", "user.name", "Test")
    (project / "train.py").write_text("import labdeck\nwith labdeck.start_run('.') as r:\n    r.log({'a': 1.0}, step=0)\n")
    (project / "run.sh").write_text("#!/bin/sh\necho shell\n")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "initial")
    (project / "helper.py").write_text("X = 1\n")  # untracked: goes through the snapshot's tar
    (project / "tool.sh").write_text("#!/bin/sh\n")
    (project / "tool.sh").chmod(0o700)
    (project / "train.py").write_text((project / "train.py").read_text() + "print('changed')\n")  # a diff
    monkeypatch.setenv("LABDECK_KEEP_WORK", "1")  # keep the job's working copy to look at it
    index = tmp_path / "index.sqlite"
    done = subprocess.run([LABDECK, "launch", "--index", str(index), "--wait", "--json", "--", "python", "train.py"],
                          cwd=project, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded", job["message"]
    launch_dir = data_dir() / "launch"
    assert (launch_dir / "work" / job["job"] / "code" / "helper.py").exists()  # the snapshot was restored here
    assert _too_open(launch_dir) == []
    assert _too_open(Path(job["run_dir"])) == []
