"""Runs other loggers write inside a job are kept with the job's run and indexed."""

from __future__ import annotations

from pathlib import Path

# A script logging the way Lightning's CSVLogger lays out its files, plus a file committed
# with the code that must not be taken for the job's output.
LOGGER_SCRIPT = '''\
import os
folder = os.path.join("lightning_logs", "version_0")
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, "hparams.yaml"), "w") as f:
    f.write("lr: 0.5\\n")
with open(os.path.join(folder, "metrics.csv"), "w") as f:
    f.write("epoch,step,train_loss\\n")
    for step in range(12):
        f.write(f"0,{step},{1.0 / (step + 1)!r}\\n")
print("logged", flush=True)
'''


def test_other_loggers_runs_are_copied_into_the_job_run_and_indexed(repo, cli, git):
    (repo / "log.py").write_text(LOGGER_SCRIPT)
    old = repo / "old_logs" / "version_9"  # committed earlier: not this job's output
    old.mkdir(parents=True)
    (old / "hparams.yaml").write_text("lr: 0.1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "logger script")

    code, job, err = cli("launch", "--project", str(repo), "--wait", "--json", "--", "python", "log.py", parse=True)
    assert code == 0, err
    run_dir = Path(job["run_dir"])
    assert (run_dir / "outputs" / "lightning_logs" / "version_0" / "metrics.csv").is_file()
    assert not (run_dir / "outputs" / "old_logs").exists()

    code, job_run, _ = cli("show", job["run"], "--json", parse=True)
    assert job_run["tags"]["labdeck.outputs"] == "lightning:outputs/lightning_logs/version_0"
    code, runs, _ = cli("runs", "--json", "--query", "format = lightning", parse=True)
    assert sorted(r["source_id"] for r in runs) == [  # the user's own old logs are a run too
        f"{job_run['path']}/outputs/lightning_logs/version_0", "old_logs/version_9"]
    (kept,) = [r for r in runs if r["path"].startswith(job_run["path"])]
    assert kept["path"] == f"{job_run['path']}/outputs/lightning_logs/version_0"
    assert kept["params"] == {"lr": "0.5"} and kept["metrics"]["train_loss"]["count"] == 12
