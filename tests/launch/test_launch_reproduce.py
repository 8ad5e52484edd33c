"""Launch and reproduce through the CLI: real git repositories, real runner processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests_support import tree_snapshot


def _json_file(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "labdeck-run.json").read_text())


def test_launch_records_manifest_and_reproduces_identically_with_diff_and_untracked(repo, cli, git):
    # Uncommitted change to a tracked file and an untracked module the script imports.
    (repo / "train.py").write_text((repo / "train.py").read_text().replace("range(30)", "range(25)"))
    git(repo, "rm", "-q", "--cached", "helper.py")
    git(repo, "commit", "-qm", "helper becomes untracked")
    (repo / "helper.py").write_text("SCALE = 0.02\n")
    before_user_tree = tree_snapshot(repo)

    code, job, err = cli("launch", "--project", str(repo), "--seed", "7", "--wait", "--json", "--", "python",
                         "train.py", parse=True)
    assert code == 0, err
    assert job["status"] == "succeeded" and job["gpus"] == []
    run_dir = job["run_dir"]
    first_line = (Path(run_dir) / "stdout.log").read_text().splitlines()[0]
    assert Path(run_dir).parent.parent == repo
    assert first_line == f"training starts {sys.executable}"  # `python` is the launching interpreter
    # Nothing but the run folder appeared in the user's tree; the job ran elsewhere.
    after = tree_snapshot(repo)
    assert {k: v for k, v in after.items() if not k.startswith("labdeck-runs")} == before_user_tree

    man = _json_file(run_dir)["provenance"]["manifest"]
    assert man["command"] == ["python", "train.py"] and man["seed"] == 7
    assert man["code"]["diff"] and man["code"]["untracked_files"] == ["helper.py"]
    assert man["env"]["kind"] == "current" and man["env"]["variables"]["PYTHONHASHSEED"] == "7"
    assert any(p["name"] == "numpy" and p["source"] for p in man["packages"])
    assert man["gpus"]["assigned"] == [] and "cpu_only" in man["gpus"]["inventory"]

    code, shown, _ = cli("show", job["run"], "--json", parse=True)
    assert shown["status"] == "finished" and shown["params"] == {"scale": "0.02"}
    assert shown["metrics"]["loss"]["count"] == 25  # the diff was in effect
    assert shown["tags"]["labdeck.job"] == job["job"]

    original_files = tree_snapshot(Path(run_dir))
    # The user's tree moves on; the reproduction must use the recorded snapshot, not this.
    (repo / "helper.py").write_text("SCALE = 0.5\n")
    (repo / "train.py").write_text("raise SystemExit('not this file')\n")
    code, rep, err = cli("reproduce", job["run"], "--wait", "--json", parse=True)
    assert code == 0, err
    assert rep["verdict"] == "identical", rep
    assert rep["original"] == job["run"] and rep["run"] != job["run"]
    assert "restored    uncommitted changes" in err and "restored    untracked files" in err
    code, new, _ = cli("show", rep["run"], "--json", parse=True)
    assert new["tags"]["labdeck.reproduces"] == job["run"]
    assert tree_snapshot(Path(run_dir)) == original_files  # the original run is untouched


def test_reproduce_without_seed_diverges_and_says_where(repo, cli, git):
    # No --seed: seed_everything falls back to 0, so make the script nondeterministic instead.
    (repo / "train.py").write_text((repo / "train.py").read_text().replace("seed_everything()", "random.seed()"))
    git(repo, "commit", "-qam", "unseeded")
    code, job, err = cli("launch", "--project", str(repo), "--wait", "--json", "--", "python", "train.py", parse=True)
    assert code == 0, err
    code, rep, err = cli("reproduce", job["run"], "--wait", "--json", parse=True)
    assert code == 0, err
    assert rep["verdict"] == "diverged" and rep["first_divergence"]["step"] == 0
    assert rep["first_divergence"]["metric"] in ("acc", "loss")
    assert "missing" in err and "seed" in err  # the plan said no seed was recorded


def test_bad_input_gives_clear_messages_and_queues_nothing(repo, tmp_path, cli):
    code, _, err = cli("launch", "--project", str(repo), "--", "no-such-command-xyz")
    assert code == 2 and "command not found: 'no-such-command-xyz'" in err
    plain = tmp_path / "plain"
    plain.mkdir()
    code, _, err = cli("launch", "--project", str(plain), "--", "python", "x.py")
    assert code == 2 and "not inside a git repository" in err
    code, _, err = cli("launch", "--project", str(repo), "--gpus", "cuda:0", "--", "python", "x.py")
    assert code == 2 and "GPU UUIDs" in err
    code, _, err = cli("launch", "--project", str(repo), "--env", "locked", "--", "python", "x.py")
    assert code == 2 and "requirements.lock" in err
    code, _, err = cli("launch", "--project", str(repo), "--dataset", "mnist", "--", "python", "x.py")
    assert code == 2 and "NAME:VERSION" in err
    code, _, err = cli("launch", "--project", str(repo), "--cpus", "0", "--", "python", "x.py")
    assert code == 2 and "--cpus" in err
    for bad in ("-1", "nan", "lots"):
        code, _, err = cli("launch", "--project", str(repo), "--mem", bad, "--", "python", "x.py")
        assert code == 2 and "GB" in err, (bad, err)
    code, jobs, _ = cli("jobs", "--json", parse=True)
    assert jobs == []


def test_failing_script_fails_the_job_and_the_run_and_no_gpu_means_cpu(repo, cli, fake_gpus):
    fake_gpus([])  # no GPU: --gpus 1 runs on the CPU, and says so
    assert cli("add", str(repo.parent), "--no-index")[0] == 0  # the repository sits in a watched folder
    code, job, err = cli("launch", "--project", str(repo), "--gpus", "1", "--wait", "--json", "--", "python",
                         "missing.py", parse=True)
    assert "runs on the CPU" in err and "CPU only" in err and job["gpus"] == []
    assert code == 2 and job["status"] == "failed" and "exit status 2" in job["message"]
    code, shown, _ = cli("show", job["run"], "--json", parse=True)
    assert shown["status"] == "failed" and "exit status 2" in shown["tags"]["labdeck.error"]
    code, _, err = cli("jobs", "logs", job["job"])
    assert "missing.py" in err
    code, _, followed = cli("jobs", "logs", job["job"][:6], "--follow")  # an id prefix; ends with the job
    assert code == 0 and followed == err
    code, projects, _ = cli("projects", "--json", parse=True)
    assert [p["path"] for p in projects] == [str(repo.parent)] and projects[0]["runs"] == 1  # indexed once


def test_reproduce_refuses_when_the_commit_is_gone(repo, cli, git):
    """History rewritten after the run: the plan says the commit is missing and nothing starts."""
    (repo / "new.py").write_text("print('untracked')\n")
    code, job, _ = cli("launch", "--project", str(repo), "--wait", "--json", "--", "python", "new.py", parse=True)
    assert code == 0 and job["status"] == "succeeded"
    git(repo, "add", "new.py")
    git(repo, "commit", "-q", "--amend", "-m", "amended")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    code, _, err = cli("reproduce", job["run"], "--wait", "--json")
    assert code == 2 and "is not in" in err and "cannot reproduce" in err
    code, jobs, _ = cli("jobs", "--json", parse=True)
    assert len(jobs) == 1


def test_reproduce_a_run_logged_by_the_sdk_outside_labdeck(repo, cli):
    """A plain `python train.py` run: command, cwd and commit come from its provenance."""
    env = {k: v for k, v in os.environ.items() if k != "LABDECK_RUN_DIR"}
    subprocess.run([sys.executable, "train.py"], cwd=repo, check=True, capture_output=True, env=env)
    assert cli("add", str(repo))[0] == 0
    code, runs, _ = cli("runs", "--json", parse=True)
    original = runs[0]["id"]
    code, rep, err = cli("reproduce", original, "--wait", "--json", parse=True)
    assert code == 0, err
    items = {i["what"]: i for i in rep["plan"]["items"]}
    assert items["command"]["detail"] == "python train.py" and items["code"]["status"] == "restored"
    assert items["seed"]["status"] == "missing"  # said, not hidden: the run recorded no seed
    assert rep["verdict"] == "identical"  # seed_everything() defaults to 0 both times
