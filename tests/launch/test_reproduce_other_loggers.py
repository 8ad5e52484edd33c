"""Reproducing a job whose metrics another logger wrote (a Lightning CSVLogger writing to the
job's working folder, kept in the job run's outputs/): the verdict compares those metrics; with
nothing to compare it says so."""

from __future__ import annotations

LIGHTNING_CSV = '''\
import os
import random
from pathlib import Path

version = Path("lightning_logs") / "version_0"  # where Lightning writes: the working folder
version.mkdir(parents=True)
(version / "hparams.yaml").write_text("batch_size: 16\\n")
random.seed(int(os.environ.get("LABDECK_SEED", "0")){jitter})
rows = ["epoch,loss,step"] + [f"0,{{random.random()!r}},{{s}}" for s in range(20)]
(version / "metrics.csv").write_text("\\n".join(rows) + "\\n")
'''

NO_METRICS = "print('trained, logged nothing')\n"

def _commit_script(repo, git, text):
    (repo / "train.py").write_text(text)
    git(repo, "commit", "-qam", "train.py")

def _launch_and_reproduce(repo, cli):
    code, job, err = cli("launch", "--project", str(repo), "--seed", "3", "--wait", "--json", "--",
                         "python", "train.py", parse=True)
    assert code == 0, err
    code, rep, err = cli("reproduce", job["run"], "--wait", "--json", parse=True)
    assert code == 0, err
    return job, rep

def test_metrics_from_a_lightning_log_inside_the_job_are_compared(repo, cli, git):
    _commit_script(repo, git, LIGHTNING_CSV.format(jitter=""))
    job, rep = _launch_and_reproduce(repo, cli)
    code, training, _ = cli("show", job["run"], "--training", "--json", parse=True)
    assert "loss" in training["series_from"], training  # the native run folds its Lightning log
    assert rep["verdict"] == "identical", rep
    assert set(training["series_from"]) == {"epoch", "loss"}  # Lightning logs the epoch too
    assert rep["metrics_compared"] == 2 and rep["points_compared"] == 40

def test_a_reproduction_whose_logged_values_differ_diverges(repo, cli, git):
    _commit_script(repo, git, LIGHTNING_CSV.format(jitter=" + int.from_bytes(os.urandom(4), 'big')"))
    _, rep = _launch_and_reproduce(repo, cli)
    assert rep["verdict"] == "diverged" and rep["first_divergence"]["metric"] == "loss"

def test_nothing_to_compare_is_said_not_called_identical(repo, cli, git):
    _commit_script(repo, git, NO_METRICS)
    code, job, err = cli("launch", "--project", str(repo), "--seed", "3", "--wait", "--json", "--",
                         "python", "train.py", parse=True)
    assert code == 0, err
    code, rep, err = cli("reproduce", job["run"], "--wait", "--json", parse=True)
    assert code == 0, err
    assert rep["verdict"] == "nothing_to_compare", rep
    assert rep["metrics_compared"] == 0 and "no metrics" in rep["note"]
    code, out, err = cli("reproduce", job["run"], "--wait")
    assert "verdict nothing_to_compare" in out and "no metrics" in out
