"""Jobs on real Slurm and Ray clusters: train, follow, index, reproduce, cancel, engine kills, rejections."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from labdeck.launch import control
from labdeck.launch.reproduce import launch_plan, make_plan, public_run_id, verdict
from labdeck.launch.submit import LaunchError, LaunchRequest, launch

from .conftest import RAY_ADDRESS, RAY_BIN


def _manifest(ws, job) -> dict:
    return json.loads(ws.provenance(public_run_id(job)))["manifest"]


def _wait_running(ws, *jobs, within_s: float = 120):
    ids = {j.id for j in jobs}
    deadline = time.monotonic() + within_s
    while ids:
        assert time.monotonic() < deadline, f"jobs {sorted(ids)} not running after {within_s} s"
        for job_id in list(ids):
            job = control.job(ws, job_id)
            assert not job.finished, f"job {job.id} ended early: {job.status} {job.message}"
            if job.status == "running" and job.run_dir:
                ids.discard(job_id)
        time.sleep(0.2)


def test_training_runs_is_followed_indexed_and_reproduces_a_local_run_identically(ws, repo, cluster):
    local = control.wait(ws, launch(ws, LaunchRequest(("python", "train.py"), project=str(repo), seed=3)).id)
    assert local.status == "succeeded", local.message
    on_cluster = launch(ws, LaunchRequest(("python", "train.py"), project=str(repo), seed=3, executor="c"))
    plan = make_plan(ws, public_run_id(local), executor="c")
    assert any(i.what == "executor" and "bit-identical results expected" in i.detail for i in plan.items), plan.text()
    again = launch_plan(ws, plan, executor="c")

    printed = "".join(text for stream, text in control.follow(ws, on_cluster.id) if stream == "stdout")
    assert printed.startswith("training starts") and "done" in printed
    done = control.job(ws, on_cluster.id)
    assert done.status == "succeeded", done.message
    run = ws.run(public_run_id(done))  # indexed, in the project, like a local run
    assert run.status == "finished"
    assert str(run.project) == str(repo) and "labdeck-runs" in done.run_dir
    man = _manifest(ws, done)
    assert man["cluster"]["executor"] == "c" and man["cluster"]["kind"] == cluster
    assert man["cluster"]["nodes"] and man["cluster"]["gpus_seen"] == []
    engine_id = man["cluster"]["job_id" if cluster == "slurm" else "submission_id"]
    assert engine_id == done.spec.cluster["id"]

    again = control.wait(ws, again.id)
    assert again.status == "succeeded", again.message
    v = verdict(ws, public_run_id(local), again)
    assert v.verdict == "identical", v.to_json()


def _engine_kill(kind: str, engine_id: str) -> None:
    if kind == "slurm":
        subprocess.run(["scancel", engine_id], check=True)
    else:
        subprocess.run([str(RAY_BIN), "job", "stop", "--address", RAY_ADDRESS, "--no-wait", engine_id], check=True,
                       capture_output=True)


def test_cancel_from_labdeck_and_a_kill_by_the_engine_each_say_who_stopped_the_job(ws, repo, cluster):
    cancelled = launch(ws, LaunchRequest(("python", "long.py"), project=str(repo), executor="c"))
    killed = launch(ws, LaunchRequest(("python", "long.py"), project=str(repo), executor="c"))
    _wait_running(ws, cancelled, killed)
    control.cancel(ws, cancelled.id)
    _engine_kill(cluster, killed.spec.cluster["id"])
    cancelled, killed = control.wait(ws, cancelled.id), control.wait(ws, killed.id)

    assert cancelled.status == "cancelled" and cancelled.message == "cancelled by the user"
    engine = {"slurm": "Slurm", "ray": "Ray"}[cluster]
    assert killed.status == "cancelled"
    assert killed.message.startswith(f"killed by {engine} outside labdeck: ")
    assert ("CANCELLED" if cluster == "slurm" else "STOPPED") in killed.message
    for job in (cancelled, killed):
        run = ws.run(public_run_id(job))
        assert run.status == "killed"
        out, _ = control.read_logs(job)
        assert out.startswith("tick 0")


def test_a_bad_partition_is_refused_with_slurms_words(ws, repo, slurm_cluster):
    from labdeck.launch import executors_config

    executors_config.add("wrong", "slurm", {"partition": "no-such-partition"})
    with pytest.raises(LaunchError, match="Slurm rejected the job: invalid partition specified: no-such-partition"):
        launch(ws, LaunchRequest(("python", "train.py"), project=str(repo), executor="wrong"))
    (job,) = control.jobs(ws)
    assert job.status == "failed" and "invalid partition" in job.message


def test_an_unreachable_ray_cluster_is_a_clear_launch_error(ws, repo):
    from labdeck.launch import executors_config

    executors_config.add("away", "ray", {"address": "http://127.0.0.1:9"})
    with pytest.raises(LaunchError, match=r"cannot submit to Ray: Ray's job server at http://127.0.0.1:9 does not answer"):
        launch(ws, LaunchRequest(("python", "train.py"), project=str(repo), executor="away"))


def _engine_resources(kind: str, engine_id: str) -> tuple[int, int]:
    """(CPUs, memory in MiB) the engine holds for the job, in its own words."""
    if kind == "slurm":
        shown = subprocess.run(["scontrol", "show", "job", "-o", engine_id], capture_output=True, text=True,
                               check=True).stdout
        fields = dict(f.split("=", 1) for f in shown.split() if "=" in f)
        return int(fields["NumCPUs"]), int(fields["MinMemoryNode"].rstrip("M"))
    import urllib.request

    # Ray holds a job's entrypoint resources on its supervisor actor; the job info does not echo them
    with urllib.request.urlopen(f"{RAY_ADDRESS}/api/v0/actors?detail=1", timeout=10) as resp:
        actors = json.loads(resp.read())["data"]["result"]["result"]
    held = next(a["required_resources"] for a in actors if a["name"] == f"_ray_internal_job_actor_{engine_id}")
    return int(held["CPU"]), int(held["memory"]) // 2**20


def test_cpus_and_memory_are_asked_of_the_engine_and_again_by_reproduce(ws, repo, cluster):
    cpus = 2 if cluster == "slurm" else 1  # the test's Ray head has one CPU; Ray's own default is 0
    job = launch(ws, LaunchRequest(("python", "train.py"), project=str(repo), executor="c", cpus=cpus, mem_gb=0.25))
    done = control.wait(ws, job.id)
    assert done.status == "succeeded", done.message
    assert _engine_resources(cluster, done.spec.cluster["id"]) == (cpus, 256)
    assert _manifest(ws, done)["cluster"]["resources"] == {"cpus": cpus, "mem_gb": 0.25}

    plan = make_plan(ws, public_run_id(done), executor="c")
    assert plan.spec.resources.to_json() == {"cpus": cpus, "mem_gb": 0.25}
    assert any(i.what == "resources" and i.status == "restored" for i in plan.items), plan.text()
    again = control.wait(ws, launch_plan(ws, plan, executor="c").id)
    assert again.status == "succeeded", again.message
    assert _engine_resources(cluster, again.spec.cluster["id"]) == (cpus, 256)
