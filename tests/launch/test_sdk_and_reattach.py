"""The SDK inside jobs (attach, seed_everything), and jobs that outlive the app that launched them."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import labdeck
import pytest
from labdeck.launch import control
from labdeck.sdk import seed_everything
from labdeck.workspace import Workspace

WAITER = '''\
import os, sys, time
print("waiting", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
'''


def test_seed_everything_seeds_python_and_numpy(monkeypatch):
    np = pytest.importorskip("numpy")
    monkeypatch.setenv("LABDECK_SEED", "11")
    assert seed_everything() == 11
    first = (random.random(), float(np.random.rand()))
    seed_everything(11)
    assert (random.random(), float(np.random.rand())) == first
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_start_run_attaches_to_the_launchers_run(project, monkeypatch):
    owner = labdeck.start_run(project, name="job", record_provenance=False)
    monkeypatch.setenv("LABDECK_RUN_DIR", str(owner.dir))
    with labdeck.start_run("/elsewhere/ignored", params={"lr": 0.1}) as inner:
        inner.log({"loss": 1.5}, step=0)
    assert inner.dir == owner.dir and inner.id == owner.id
    assert (owner.dir / "labdeck-run.lock").exists()  # the owner's lock is not the script's to remove
    owner.log({"loss": 1.0}, step=1)
    owner.end("finished")
    lines = (owner.dir / "metrics.csv").read_text().splitlines()
    assert lines[0] == "key,step,value,wall_ms" and [ln.split(",")[:3] for ln in lines[1:]] == [
        ["loss", "0", "1.5"], ["loss", "1", "1.0"]]
    events = [json.loads(ln) for ln in (owner.dir / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in events] == ["params", "end", "end"]
    assert len(list((project / "labdeck-runs").iterdir())) == 1


def _until(predicate, what: str, limit_s: float = 60.0):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_job_survives_the_launcher_and_a_dead_runner_is_noticed(repo, git, cli, tmp_path):
    (repo / "waiter.py").write_text(WAITER)
    git(repo, "add", "waiter.py")
    git(repo, "commit", "-qm", "waiter")
    gate = tmp_path / "gate"
    code, job, _ = cli("launch", "--project", str(repo), "--json", "--", "python", "waiter.py", str(gate), parse=True)
    assert code == 0
    # A fresh workspace, as when the app is reopened: the job is found running from the DB alone.
    ws = Workspace(cli.index)
    try:
        running = _until(lambda: (j := control.job(ws, job["job"])).status == "running" and j.pgid and j, "running")
        assert [j.id for j in control.jobs(ws)] == [job["job"]]
        os.kill(running.runner_pid, signal.SIGKILL)  # the owner dies (say, a crash)
        _until(lambda: control.jobs(ws)[0].status == "failed", "the dead runner to be noticed")
        failed = control.job(ws, job["job"])
        assert "runner for this job disappeared" in failed.message
        _until(lambda: not Path(f"/proc/{running.pgid}").exists()
               or Path(f"/proc/{running.pgid}/stat").read_text().split(") ", 1)[1][0] == "Z", "the command to stop")
    finally:
        gate.write_text("go")
        ws.close()


def test_stopping_the_runner_stops_the_job_cleanly(repo, git, cli, tmp_path):
    (repo / "waiter.py").write_text(WAITER)
    git(repo, "add", "waiter.py")
    git(repo, "commit", "-qm", "waiter")
    code, job, _ = cli("launch", "--project", str(repo), "--json", "--", "python", "waiter.py",
                       str(tmp_path / "never"), parse=True)
    ws = Workspace(cli.index)
    try:
        running = _until(lambda: (j := control.job(ws, job["job"])).status == "running" and j.pgid and j, "running")
        os.kill(running.runner_pid, signal.SIGTERM)  # e.g. the machine shutting down
        done = control.wait(ws, job["job"])
    finally:
        ws.close()
    assert done.status == "cancelled" and "asked to stop" in done.message
    code, shown, _ = cli("show", job["run"], "--json", parse=True)
    assert shown["status"] == "killed" and "asked to stop" in shown["tags"]["labdeck.error"]
    assert not (Path(running.work_dir).parent).exists()  # the work area is cleaned up


def test_pytorch_cpu_training_reproduces_identically(repo, git, cli):
    pytest.importorskip("torch")
    (repo / "torch_train.py").write_text(
        "import torch, labdeck\nfrom labdeck.sdk import seed_everything\nseed_everything()\n"
        "m = torch.nn.Linear(8, 1)\nopt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "x, y = torch.randn(64, 8), torch.randn(64, 1)\n"
        "with labdeck.start_run('.') as run:\n"
        "    for s in range(20):\n"
        "        opt.zero_grad(); loss = ((m(x) - y) ** 2).mean(); loss.backward(); opt.step()\n"
        "        run.log({'loss': loss.item()}, step=s)\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "torch")
    code, job, err = cli("launch", "--project", str(repo), "--seed", "1", "--wait", "--json", "--", "python",
                         "torch_train.py", parse=True)
    assert code == 0, err
    code, rep, err = cli("reproduce", job["run"], "--wait", "--json", parse=True)
    assert code == 0 and rep["verdict"] == "identical", (rep, err)

