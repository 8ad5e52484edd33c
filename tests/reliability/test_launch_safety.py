"""``labdeck launch`` against hostile projects and interruptions, with real processes.

- labdeck's own runner never imports modules of the project it launches from;
- a code snapshot leaves out what .gitignore ignores and files that look like secrets, and says so;
- a launch SIGKILLed or SIGINTed at a random moment leaves a sound index and no job stuck running.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labdeck.launch import gitsnap

LABDECK = str(Path(sys.executable).with_name("labdeck"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "Test")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "initial")
    return root


def _labdeck(*argv: str, cwd: Path, index: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([LABDECK, argv[0], "--index", str(index), *argv[1:]], cwd=cwd, capture_output=True,
                          text=True, timeout=300, **kw)


# The runner must not import the project's modules ------------------------------------------


def _trap(marker: Path, module: str) -> str:
    """A module that leaves a marker when imported, then behaves like a broken stand-in."""
    return (f"import os, sys\n"
            f"with open({str(marker)!r}, 'a') as f:\n"
            f"    f.write({module!r} + ' imported by ' + repr(sys.argv) + '\\n')\n")


def test_the_runner_never_imports_modules_of_the_project(tmp_path):
    marker = tmp_path / "imported.txt"
    project = _repo(tmp_path / "proj", {
        "yaml.py": _trap(marker, "yaml"),
        "json.py": _trap(marker, "json"),
        "ok.py": "print('the job ran')\n",
    })
    index = tmp_path / "index.sqlite"
    done = _labdeck("launch", "--wait", "--json", "--", "python", "ok.py", cwd=project, index=index)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded", job["message"]
    assert (Path(job["run_dir"]) / "stdout.log").read_text() == "the job ran\n"
    assert not marker.exists(), marker.read_text()


# Code snapshots leave out ignored files and secrets ----------------------------------------

SECRETS = (".env", ".env.local", "config/server.pem", "deploy.key", "id_rsa", "keys/id_ed25519", ".netrc",
           "cert.p12", "store.pfx", "home/.pgpass")


def test_snapshot_leaves_out_ignored_files_and_secrets_and_says_so(tmp_path):
    project = _repo(tmp_path / "proj", {"train.py": "print(1)\n", ".gitignore": "*.ckpt\ncache/\n"})
    for name in (*SECRETS, "model.ckpt", "cache/blob.bin", "notes.md", "id_rsa.pub"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(f"content of {name}\n")
    snap = gitsnap.snapshot(project)
    assert sorted(snap.untracked_files) == ["id_rsa.pub", "notes.md"]
    left_out = {e["path"]: e["reason"] for e in snap.to_json()["left_out"]}
    assert {p for p, why in left_out.items() if why.startswith("looks like a secret")} == set(SECRETS)
    assert {p for p, why in left_out.items() if why == "ignored by .gitignore"} == {"model.ckpt", "cache/"}
    restored = gitsnap.materialise(snap, tmp_path / "work")
    assert not any((restored / name).exists() for name in (*SECRETS, "model.ckpt", "cache"))
    assert (restored / "notes.md").exists() and (restored / "id_rsa.pub").exists()
    back = gitsnap.CodeSnapshot.from_json(snap.to_json())
    assert back.left_out == snap.left_out


def test_a_launched_jobs_manifest_lists_what_the_snapshot_left_out(tmp_path):
    project = _repo(tmp_path / "proj", {"ok.py": "import os\nprint(os.path.exists('.env'))\n"})
    (project / ".env").write_text("API_TOKEN=hunter2\n")
    index = tmp_path / "index.sqlite"
    done = _labdeck("launch", "--wait", "--json", "--", "python", "ok.py", cwd=project, index=index)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert (Path(job["run_dir"]) / "stdout.log").read_text() == "False\n"  # the job did not get the secret
    manifest = json.loads((Path(job["run_dir"]) / "labdeck-run.json").read_text())["provenance"]["manifest"]
    assert {"path": ".env", "reason": "looks like a secret (.env files)"} in manifest["code"]["left_out"]
    snapshots = Path(os.environ["LABDECK_HOME"]) / "launch" / "snapshots"
    assert not any(b"hunter2" in p.read_bytes() for p in snapshots.rglob("*") if p.is_file())
