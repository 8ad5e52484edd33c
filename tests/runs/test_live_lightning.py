"""A real Lightning training (CPU) watched live: `running` while it writes, `finished` once quiet.

Needs the tools' own environment (scripts/make_fixtures_recognisable makes it: .venv-fixtures,
or $LABDECK_FIXTURE_VENV); skipped where it is absent, as Lightning is no labdeck dependency.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from labdeck.runs.readers import _liveness
from labdeck.runs.watcher import Watcher

REPO = Path(__file__).resolve().parents[2]

TRAINING = textwrap.dedent("""
    import sys, time
    import lightning as L, torch
    from lightning.pytorch.loggers import CSVLogger

    class Slow(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.save_hyperparameters({"batch_size": 16})
            self.net = torch.nn.Linear(2, 1)
        def training_step(self, batch, _):
            time.sleep(0.3)  # a step a person can watch
            loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
            self.log("loss", loss)
            return loss
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(torch.randn(64, 2), torch.randn(64, 1))
    trainer = L.Trainer(max_epochs=2, logger=CSVLogger(sys.argv[1], name="live"), log_every_n_steps=1,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        accelerator="cpu")
    trainer.fit(Slow(), torch.utils.data.DataLoader(data, batch_size=16))
""")


def _tools_python() -> Path:
    venv = Path(os.environ.get("LABDECK_FIXTURE_VENV") or REPO / ".venv-fixtures")
    python = venv / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"no tools environment at {venv} (scripts/make_fixtures_recognisable makes it)")
    if subprocess.run([python, "-c", "import lightning"], capture_output=True).returncode != 0:
        pytest.skip(f"lightning is not installed in {venv}")
    return python


def _wait(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _status(workspace) -> str | None:
    runs = [r for r in workspace.runs() if r.source_id == "live/version_0"]
    return runs[0].status if runs else None


def test_a_watched_lightning_training_goes_running_then_finished(workspace, project, tmp_path, monkeypatch):
    python = _tools_python()
    script = tmp_path / "train.py"
    script.write_text(TRAINING)
    workspace.add_project(project)
    watcher = Watcher(workspace.db, rescan_s=0.5)
    watcher.start()
    try:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        training = subprocess.Popen([python, script, str(project)], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
        try:
            assert _wait(lambda: _status(workspace) == "running" or training.poll() is not None)
            assert _status(workspace) == "running", "seen while the training wrote"
            seen_running_at = training.poll()
            assert training.wait(timeout=120) == 0, training.stderr.read().decode()[-2000:]
        finally:
            training.kill()
        assert seen_running_at is None  # the training was still under way
        assert _status(workspace) == "running"  # ended moments ago: within the quiet period
        # Nothing is written any more; once the quiet period has passed, the watcher's next
        # full pass finds the run quiet and stores its end.
        monkeypatch.setattr(_liveness, "now", lambda: time.time() + _liveness.QUIET_PERIOD_S + 1)
        assert _wait(lambda: _status(workspace) == "finished", timeout=20)
    finally:
        watcher.stop()
    run = next(r for r in workspace.runs() if r.source_id == "live/version_0")
    assert run.name == "live/version_0" and run.experiment == "live" and run.params == {"batch_size": "16"}
    assert run.metrics["loss"].count == 8 and run.start_time <= run.end_time


SHARED_SAVE_DIR = textwrap.dedent("""
    import sys
    import lightning as L, torch
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    class Tiny(L.LightningModule):
        def __init__(self, lr):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(2, 1)
        def training_step(self, batch, _):
            loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
            self.log("loss", loss)
            return loss
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    data = torch.utils.data.TensorDataset(torch.randn(64, 2), torch.randn(64, 1))
    # Two trainings back to back with the same hparams, then one with the loggers swapped:
    # both loggers share a save dir and name, so each training takes two consecutive versions.
    for lr, csv_first in ((0.1, True), (0.1, True), (0.2, False)):
        csv, tb = CSVLogger(sys.argv[1], name="shared"), TensorBoardLogger(sys.argv[1], name="shared")
        trainer = L.Trainer(max_epochs=2, logger=[csv, tb] if csv_first else [tb, csv], log_every_n_steps=1,
                            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                            accelerator="cpu")
        trainer.fit(Tiny(lr), torch.utils.data.DataLoader(data, batch_size=16))
        print(f"shared/version_{csv.version} shared/version_{tb.version}", flush=True)
""")


def test_both_loggers_in_one_save_dir_are_one_training_each_and_stop_with_their_process(
        workspace, project, tmp_path, monkeypatch):
    """[CSVLogger("logs"), TensorBoardLogger("logs")] writes version_0 (CSV) and version_1
    (TensorBoard) for one training: one run with its twin under it, counted once; and once the
    training's process has ended, both stop being `running` after the short grace."""
    python = _tools_python()
    script = tmp_path / "train.py"
    script.write_text(SHARED_SAVE_DIR)
    done = subprocess.run([python, script, str(project)], env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    pairs = [tuple(line.split()) for line in done.stdout.splitlines() if line.startswith("shared/")]
    assert [csv < tb for csv, tb in pairs] == [True, True, False]  # the swapped order is covered
    # The liveness clock is pinned: on a slow machine the first training may have stopped
    # writing more than the grace before this index.
    last_writes = [f.stat().st_mtime for f in project.rglob("*") if f.is_file()]
    monkeypatch.setattr(_liveness, "now", lambda: min(last_writes) + 1)
    workspace.add_project(project)
    workspace.index()
    runs = {r.source_id: r for r in workspace.runs()}
    assert len(runs) == 6
    by_id = {r.id: r for r in runs.values()}
    assert {(by_id[r.parent].source_id, r.source_id) for r in runs.values() if r.parent} == set(pairs)
    assert sorted(runs[csv].params["lr"] for csv, _tb in pairs) == ["0.1", "0.1", "0.2"]
    # Ended moments ago: within the grace, still `running`; past it (the writer named in the
    # event files is gone), stopped, though the 10-minute quiet period has not passed.
    assert {r.status for r in runs.values()} == {"running"}
    monkeypatch.setattr(_liveness, "now", lambda: max(last_writes) + _liveness.WRITER_GONE_GRACE_S + 1)
    workspace.index()
    assert {r.status for r in workspace.runs()} == {"finished"}
