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


# Kill trials: SIGKILL / SIGINT of a real `labdeck launch` at random moments ---------------------

TRIALS = int(os.environ.get("LABDECK_SOAK_TRIALS", "4"))

# A launcher killed in the narrowest window: its job row is committed, its runner not yet started
# (too short to hit by a random kill). The real steps of submit.enqueue, then a wait to be killed.
HALF_LAUNCH = r"""
import os, socket, sys, time
from labdeck.db import jobs as jobsdb
from labdeck.db.job_spec import JobSpec, Launcher
from labdeck.launch.submit import new_job_id
from labdeck.workspace import Workspace
ws = Workspace(sys.argv[1])
spec = JobSpec(launcher=Launcher(os.getpid(), socket.gethostname()))
with ws.db.write() as s:
    job = jobsdb.insert_job(s, job_id=new_job_id(), project=sys.argv[2], command=["python", "ok.py"], spec=spec,
                            priority=0, run_id="0" * 32, host=socket.gethostname(), executor="local")
print(job.id, flush=True)
time.sleep(600)
"""


def _jobs(index: Path, project: Path) -> list[dict]:
    """`labdeck jobs --json`: the status refresh a user would do (it reconciles dead owners)."""
    done = _labdeck("jobs", "--json", cwd=project, index=index)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _job_count(index: Path) -> int:
    with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as con:
        return con.execute("SELECT count(*) FROM jobs").fetchone()[0]


def _settle(index: Path) -> list:
    """Wait for every job to end (each one's runner is alive, else the refresh has ended it)."""
    from labdeck.launch import control
    from labdeck.launch.processes import runner_alive
    from labdeck.launch.isolated import helper_running
    from labdeck.workspace import Workspace

    ws = Workspace(index)
    try:
        for job in control.jobs(ws):
            if not job.finished:
                # Active after a refresh: only with a live runner (a queued one may still be starting).
                assert runner_alive(job.runner_pid, job.id) or (
                    job.status == "queued" and helper_running("labdeck.launch.runner", job.id)), job
                control.wait(ws, job.id)
        return control.jobs(ws)
    finally:
        ws.close()


def test_a_launch_killed_before_its_runner_started_is_failed_by_the_next_refresh(tmp_path):
    project = _repo(tmp_path / "proj", {"ok.py": "print('ok')\n"})
    index = tmp_path / "index.sqlite"
    launcher = subprocess.Popen([sys.executable, "-c", HALF_LAUNCH, str(index), str(project)], stdout=subprocess.PIPE,
                                text=True)
    job_id = launcher.stdout.readline().strip()
    (queued,) = _jobs(index, project)  # its launcher lives: still being handed over, left alone
    assert (queued["job"], queued["status"]) == (job_id, "queued")
    launcher.kill()
    launcher.wait()
    (failed,) = _jobs(index, project)
    assert failed["status"] == "failed" and "interrupted before" in failed["message"]
    done = _labdeck("launch", "--wait", "--json", "--", "python", "ok.py", cwd=project, index=index)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "succeeded", done.stderr


def test_launch_killed_at_random_moments_leaves_a_sound_index_and_no_stuck_job(tmp_path):
    project = _repo(tmp_path / "proj", {"ok.py": "print('ok')\n"})
    (project / "notes.txt").write_text("untracked\n")
    index = tmp_path / "index.sqlite"
    started = time.monotonic()
    first = _labdeck("launch", "--json", "--", "python", "ok.py", cwd=project, index=index)
    assert first.returncode == 0, first.stderr
    span = time.monotonic() - started  # kill moments are drawn across one whole launch
    rng = random.Random(int(os.environ.get("LABDECK_SOAK_SEED", "13")))
    outcomes = []
    for trial in range(TRIALS):
        sig = signal.SIGKILL if trial % 2 == 0 else signal.SIGINT
        before = _job_count(index)
        proc = subprocess.Popen([LABDECK, "launch", "--index", str(index), "--json", "--", "python", "ok.py"],
                                cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if trial % 4 < 2:  # anywhere in the launch
            time.sleep(rng.uniform(0.05, span))
        else:  # while the job is being handed to its runner: right after its row appears
            while _job_count(index) == before and proc.poll() is None:
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(sig)
        proc.communicate(timeout=120)
        with sqlite3.connect(index) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        jobs = _settle(index)
        assert all(j.finished for j in jobs)
        outcomes.append((sig.name, proc.returncode, [(j.status, j.message) for j in jobs[: len(jobs) - before]]))
    # Whatever each kill interrupted, the next launch works.
    done = _labdeck("launch", "--wait", "--json", "--", "python", "ok.py", cwd=project, index=index)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "succeeded", (done.stderr, outcomes)
    with sqlite3.connect(index) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stuck = con.execute("SELECT id, status FROM jobs WHERE status IN ('queued', 'running')").fetchall()
    assert stuck == []
    print("launch kill trials:", outcomes)
