"""Cancel stops the whole process tree; GPU jobs are pinned by UUID and queue for a busy GPU."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from labdeck.launch import control
from labdeck.workspace import Workspace

TREE = '''\
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open("pids.json.tmp", "w").write(f"[{os.getpid()}, {child.pid}]")
os.replace("pids.json.tmp", "pids.json")
print("started", flush=True)
time.sleep(600)
'''

GPU_JOB = '''\
import os, sys, time
print(os.environ["CUDA_VISIBLE_DEVICES"], os.environ["CUDA_DEVICE_ORDER"], flush=True)
gate = sys.argv[1] if len(sys.argv) > 1 else None
while gate and not os.path.exists(gate):
    time.sleep(0.05)
'''


def _until(predicate, what: str, limit_s: float = 60.0):
    """Poll for a state (not a timing assertion: the limit only keeps a broken test from hanging)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_cancel_kills_the_process_tree(repo, git, cli):
    (repo / "tree.py").write_text(TREE)
    git(repo, "add", "tree.py")
    git(repo, "commit", "-qm", "tree")
    code, job, err = cli("launch", "--project", str(repo), "--json", "--", "python", "tree.py", parse=True)
    assert code == 0, err
    ws = Workspace(cli.index)
    try:
        work = _until(lambda: control.job(ws, job["job"]).work_dir, "the job to be prepared")
        pids = json.loads(_until(lambda: (Path(work) / "pids.json").exists() and (Path(work) / "pids.json").read_text(),
                                 "the job to start its child"))
        assert all(_alive(p) for p in pids)
        code, out, _ = cli("jobs", "cancel", job["job"])
        assert code == 0 and "cancel requested" in out
        done = control.wait(ws, job["job"])
    finally:
        ws.close()
    assert done.status == "cancelled"
    _until(lambda: not any(_alive(p) for p in pids), "the whole tree to be gone")
    code, shown, _ = cli("show", job["run"], "--json", parse=True)
    assert shown["status"] == "killed" and "cancelled" in shown["tags"]["labdeck.error"]
    code, out, _ = cli("jobs", "logs", job["job"])
    assert out == "started\n"


def test_gpu_jobs_pinned_by_uuid_and_second_waits_for_the_busy_gpu(repo, git, cli, fake_gpus, tmp_path):
    fake_gpus([{"uuid": "GPU-aaaa", "name": "Fake H100", "memory_total_mib": 81559, "memory_used_mib": 4},
               {"uuid": "GPU-bbbb", "name": "Fake H100", "memory_total_mib": 81559, "memory_used_mib": 60000}])
    (repo / "gpu.py").write_text(GPU_JOB)
    git(repo, "add", "gpu.py")
    git(repo, "commit", "-qm", "gpu")
    gate = tmp_path / "gate"
    code, first, err = cli("launch", "--project", str(repo), "--gpus", "1", "--json", "--", "python", "gpu.py",
                           str(gate), parse=True)
    assert code == 0, err
    ws = Workspace(cli.index)
    try:
        # Order among jobs counts once they are ready (code and environment prepared); the first
        # runs before the second is launched, so the second can only wait for it.
        _until(lambda: control.job(ws, first["job"]).status == "running", "the first job to run")
        code, second, err = cli("launch", "--project", str(repo), "--gpus", "1", "--json", "--", "python",
                                "gpu.py", parse=True)
        assert code == 0, err
        _until(lambda: control.job(ws, second["job"]).work_dir, "the second job to be ready")
        # GPU-bbbb is busy with someone else's memory and GPU-aaaa is held: the second job waits.
        assert control.job(ws, second["job"]).status == "queued"
        gate.write_text("go")
        a = control.wait(ws, first["job"])
        b = control.wait(ws, second["job"])
    finally:
        gate.write_text("go")  # never leave a job waiting behind a failed assertion
        ws.close()
    assert (a.status, b.status) == ("succeeded", "succeeded")
    assert a.gpus == b.gpus == ("GPU-aaaa",) and b.started_at >= a.ended_at
    for j in (a, b):
        out, _ = control.read_logs(j)
        assert out == "GPU-aaaa PCI_BUS_ID\n"
    man = json.loads((Path(a.run_dir) / "labdeck-run.json").read_text())["provenance"]["manifest"]
    assert [g["uuid"] for g in man["gpus"]["assigned"]] == ["GPU-aaaa"]
    # A UUID this machine does not have is refused up front.
    code, _, err = cli("launch", "--project", str(repo), "--gpus", "GPU-zzzz", "--", "python", "gpu.py")
    assert code == 2 and "no GPU GPU-zzzz" in err

