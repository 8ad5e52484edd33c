"""Lightning, TensorBoard and Hugging Face runs look like what they are (issue 14).

Fixtures: tests/fixtures/recognisable, written by the real tools (scripts/make_fixtures_recognisable):
one Lightning training with CSVLogger + TensorBoardLogger and one Transformers Trainer reporting to
TensorBoard, each captured mid-training and finished, with expected.json from the tools' readers.
File times come from the checkout, so each test sets them and the liveness clock itself.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labdeck.runs.indexer import index_project
from labdeck.runs.readers import _liveness, all_readers
from labdeck.runs.readers.base import SourceRef
from labdeck.runs.readers.lightning import READER as LIGHTNING
from labdeck.runs.walk import walk_project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recognisable"
WROTE_AT = 1_800_000_000.0  # when the copied files were "last written" (s)
QUIET = _liveness.QUIET_PERIOD_S


def _copy(kind: str, captured: str, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of one captured project, every file last written at WROTE_AT."""
    folder = tmp_path / f"{kind}-{captured}"
    shutil.copytree(FIXTURES / kind / captured, folder)
    for path in folder.rglob("*"):
        os.utime(path, (WROTE_AT, WROTE_AT))
    return folder, json.loads((folder / "expected.json").read_text())


def _clock(monkeypatch: pytest.MonkeyPatch, seconds_after_last_write: float) -> None:
    monkeypatch.setattr(_liveness, "now", lambda: WROTE_AT + seconds_after_last_write)


def _runs(workspace, folder: Path) -> dict:
    """The runs of ``folder`` (added and indexed) by source id."""
    workspace.add_project(folder)
    workspace.index()
    return {r.source_id: r for r in workspace.runs() if Path(r.project) == folder}


def _same(got: float, want) -> bool:
    want = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(want, want)
    return (math.isnan(got) and math.isnan(want)) or got == want


def _assert_points(workspace, run, expected: dict[str, list[dict]]) -> None:
    series = workspace.series(run.id)
    for key, points in expected.items():
        assert series[key].steps.tolist() == [p["step"] for p in points], key
        assert all(_same(v, p["value"]) for v, p in zip(series[key].values.tolist(), points, strict=True)), key


# Status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("captured", ["mid", "finished"])
def test_lightning_runs_are_running_while_written_then_finished(workspace, tmp_path, monkeypatch, captured):
    folder, _ = _copy("lightning", captured, tmp_path)
    _clock(monkeypatch, 5)
    runs = _runs(workspace, folder)
    assert {r.status for r in runs.values()} == {"running"}
    # Nothing changes on disk; the next pass after the quiet period re-reads (its fingerprint
    # says "quiet" now) and the runs stop being running.
    _clock(monkeypatch, QUIET + 1)
    workspace.index()
    assert {r.status for r in workspace.runs()} == {"finished"}


def test_hf_run_status_follows_the_trainer_state(workspace, tmp_path, monkeypatch):
    mid, _ = _copy("hf", "mid", tmp_path)
    finished, _ = _copy("hf", "finished", tmp_path)
    _clock(monkeypatch, 5)
    assert _runs(workspace, mid)["tiny-cls"].status == "running"  # step 4 of 12, written just now
    assert _runs(workspace, finished)["tiny-cls"].status == "finished"  # global_step == max_steps
    _clock(monkeypatch, QUIET + 1)
    workspace.index()
    runs = {(r.project, r.source_id): r.status for r in workspace.runs() if r.format == "hf-trainer"}
    # Stopped short of max_steps and quiet: killed (or crashed; the files cannot tell).
    assert runs == {(str(mid), "tiny-cls"): "killed", (str(finished), "tiny-cls"): "finished"}


# Times ----------------------------------------------------------------------------------


def test_every_run_has_start_and_end_times(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    for kind in ("lightning", "hf"):
        folder, expected = _copy(kind, "finished", tmp_path)
        runs = _runs(workspace, folder)
        for run in runs.values():
            assert run.start_time is not None and run.end_time is not None, run.source_id
            assert run.start_time <= run.end_time
        tb_runs = expected["runs"] if kind == "lightning" else expected["tb_runs"]
        for rel, want in tb_runs.items():
            if "scalars" not in want:
                continue  # the CSV run: file times only (set above)
            run = runs[rel]
            # The first and last wall times TensorBoard's own reader returns.
            assert abs(run.start_time - want["first_wall_time"] * 1000) < 1000
            assert run.end_time == int(want["last_wall_time"] * 1000)
    folder, expected = _copy("lightning", "mid", tmp_path)
    csv = _runs(workspace, folder)["live/version_0"]
    # metrics.csv has no wall times: it ends at its files' last write and starts when the
    # TensorBoardLogger twin's event file was created (the time in its name).
    [events] = [f for f in expected["runs"]["tb_logs/live/version_0"]["files"] if "tfevents" in f]
    assert csv.start_time == _liveness.tfevents_start_s(events) * 1000
    assert csv.end_time == int(WROTE_AT * 1000)
    shutil.rmtree(folder / "tb_logs")  # a CSVLogger alone: its files' times
    [record] = LIGHTNING.read(SourceRef("lightning", folder / "live" / "version_0", "live/version_0")).runs
    assert record.meta["start_time"] == record.meta["end_time"] == int(WROTE_AT * 1000)


# Names ----------------------------------------------------------------------------------


def test_names_are_the_loggers_own(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    lightning = _runs(workspace, _copy("lightning", "finished", tmp_path)[0])
    assert {(r.experiment, r.name) for r in lightning.values()} == {
        ("live", "live/version_0"),
        ("live", "tb_logs/live/version_0"),
    }
    hf_folder, expected = _copy("hf", "finished", tmp_path)
    hf = _runs(workspace, hf_folder)
    run_name = expected["training_args"]["run_name"]
    [tb_rel] = expected["tb_runs"]
    assert hf["tiny-cls"].name == run_name
    assert hf[tb_rel].name == run_name  # not the timestamped folder Dec06_12-19-35_vm
    assert "runs" not in hf[tb_rel].experiment


# Params ---------------------------------------------------------------------------------


def test_params_keep_the_types_the_tool_wrote(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    folder, expected = _copy("lightning", "finished", tmp_path)
    runs = _runs(workspace, folder)
    written = expected["runs"]["live/version_0"]["hparams"]
    assert written["batch_size"] == 32 and expected["runs"]["tb_logs/live/version_0"]["hparams"]["batch_size"] == 32.0
    for run in runs.values():
        assert run.params == {k: str(v) for k, v in written.items()}  # 32, not 32.0; False, not 0.0


def test_hf_params_are_the_training_arguments_and_model_config(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    folder, expected = _copy("hf", "finished", tmp_path)
    runs = _runs(workspace, folder)
    args, config = expected["training_args"], expected["model_config"]
    assert args["eval_strategy"] == "epoch" and args["save_strategy"] == "epoch"
    for source_id in ("tiny-cls", *expected["tb_runs"]):
        params = runs[source_id].params
        assert params["learning_rate"] == repr(args["learning_rate"]) == "0.003"
        assert params["seed"] == "7" and params["per_device_train_batch_size"] == "8"
        assert params["num_train_epochs"] == "3" and params["logging_steps"] == "2"
        assert params["model/hidden_size"] == str(config["hidden_size"]) == "16"
        # Settings that did not apply are not shown from their defaults.
        assert "eval_steps" not in params and "save_steps" not in params
        assert not any(v == "None" for v in params.values())
    assert runs["tiny-cls"].params["train_batch_size"] == "8"


# No phantoms ----------------------------------------------------------------------------


def test_a_checkpoint_being_written_is_never_a_run(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, 5)
    folder, _ = _copy("hf", "mid", tmp_path)
    output = folder / "tiny-cls"
    workspace.add_project(folder)
    workspace.index()
    # The Trainer writes checkpoint-8: model and config first, trainer_state.json last.
    checkpoint = output / "checkpoint-8"
    shutil.copytree(FIXTURES / "hf" / "finished" / "tiny-cls" / "checkpoint-8", checkpoint)
    for step in ("with its state", "without its state"):
        # The watcher walks from the folder that changed: the checkpoint itself.
        assert walk_project(folder, all_readers(), start=checkpoint).sources == [], step
        index_project(workspace.db, str(folder), starts=[checkpoint])
        assert sorted(r.source_id for r in workspace.runs() if r.format == "hf-trainer") == ["tiny-cls"], step
        (checkpoint / "trainer_state.json").unlink(missing_ok=True)
    workspace.index()
    assert sorted(r.source_id for r in workspace.runs() if r.format == "hf-trainer") == ["tiny-cls"]


# Points -----------------------------------------------------------------------------------


@pytest.mark.parametrize("captured", ["mid", "finished"])
def test_every_point_equals_what_the_tools_read(workspace, tmp_path, monkeypatch, captured):
    _clock(monkeypatch, QUIET + 1)
    folder, expected = _copy("lightning", captured, tmp_path)
    runs = _runs(workspace, folder)
    _assert_points(workspace, runs["live/version_0"], expected["runs"]["live/version_0"]["series"])
    _assert_points(workspace, runs["tb_logs/live/version_0"], expected["runs"]["tb_logs/live/version_0"]["scalars"])

    folder, expected = _copy("hf", captured, tmp_path)
    runs = _runs(workspace, folder)
    for rel, want in expected["tb_runs"].items():
        _assert_points(workspace, runs[rel], want["scalars"])
    # The most complete state: the top-level one when finished, the newest checkpoint's mid-way.
    state = max(expected["states"].values(), key=lambda s: (s["global_step"], len(s["log_history"])))
    by_key: dict[str, list[dict]] = {}
    for entry in state["log_history"]:
        for key, value in entry.items():
            if key != "step" and not isinstance(value, (bool, str)):
                by_key.setdefault(key, []).append({"step": entry["step"], "value": value})
    _assert_points(workspace, runs["tiny-cls"], by_key)


# One training, one run ------------------------------------------------------------------


def test_the_sources_of_one_training_fold_under_one_run(workspace, tmp_path, monkeypatch):
    from labdeck.db import grouping
    from labdeck.jsonfmt import run_json

    _clock(monkeypatch, QUIET + 1)
    lightning = _runs(workspace, _copy("lightning", "finished", tmp_path)[0])
    hf_folder, expected = _copy("hf", "finished", tmp_path)
    hf = _runs(workspace, hf_folder)
    [tb_rel] = expected["tb_runs"]
    csv, tb = lightning["live/version_0"], lightning["tb_logs/live/version_0"]
    # The TensorBoard logger's version is a child of the CSV logger's; the Trainer's
    # TensorBoard run a child of its output folder's run.
    assert tb.parent == csv.id and csv.parent is None
    assert hf[tb_rel].parent == hf["tiny-cls"].id and hf["tiny-cls"].parent is None
    pks = workspace.run_pks()
    with workspace.db.rows() as conn:
        tree = grouping.parents(conn, pks)
        uids = dict(zip(pks, [r.id for r in workspace.runs_by_pk(pks)]))
    assert {(uids[c], uids[p]) for c, p in tree.items()} == {(tb.id, csv.id), (hf[tb_rel].id, hf["tiny-cls"].id)}
    # --json keeps each source's own id.
    assert [run_json(r)["source_id"] for r in (csv, tb)] == ["live/version_0", "tb_logs/live/version_0"]
    assert run_json(hf[tb_rel])["parent"] == hf["tiny-cls"].id


def test_both_loggers_in_one_folder_are_linked_too(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    folder, _ = _copy("lightning", "finished", tmp_path)
    # CSVLogger and TensorBoardLogger given the same save_dir, name and version.
    for path in (folder / "tb_logs" / "live" / "version_0").iterdir():
        if path.name.startswith("events"):
            shutil.copy2(path, folder / "live" / "version_0" / path.name)
    shutil.rmtree(folder / "tb_logs")
    _runs(workspace, folder)
    runs = {(r.format, r.source_id): r for r in workspace.runs() if Path(r.project) == folder}
    tb, csv = runs[("tensorboard", "live/version_0")], runs[("lightning", "live/version_0")]
    assert tb.parent == csv.id and csv.parent is None


def test_a_training_shows_each_metric_once_from_its_richest_source(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    lightning = _runs(workspace, _copy("lightning", "finished", tmp_path)[0])
    csv, tb = lightning["live/version_0"], lightning["tb_logs/live/version_0"]
    folded = workspace.training_series(csv.id)
    assert set(folded.series) == set(csv.metrics) | set(tb.metrics)  # hp_metric: TensorBoard's only
    # Same points in both: TensorBoard's carry wall times, so they are the richer source.
    assert folded.chosen["train_loss"] == tb.id and folded.chosen["hp_metric"] == tb.id
    tb_series = workspace.series(tb.id)
    assert np.array_equal(folded.series["train_loss"].walls, tb_series["train_loss"].walls)
    assert np.isfinite(folded.series["train_loss"].walls).all()

    hf_folder, expected = _copy("hf", "finished", tmp_path)
    hf = _runs(workspace, hf_folder)
    [tb_rel] = expected["tb_runs"]
    folded = workspace.training_series(hf["tiny-cls"].id)
    # The Trainer's TensorBoard names (train/loss, eval/loss) are matched to its own: kept once.
    assert not any(k.startswith(("train/", "eval/")) for k in folded.series)
    assert set(folded.series) >= set(hf["tiny-cls"].metrics)
    tb_points = workspace.series(hf[tb_rel].id)
    assert folded.chosen["loss"] == hf[tb_rel].id
    assert folded.series["loss"].values.tolist() == tb_points["train/loss"].values.tolist()
    assert folded.series["eval_loss"].steps.tolist() == tb_points["eval/loss"].steps.tolist()
    # A run with no linked source is its own series.
    alone = workspace.training_series(tb.id)
    assert set(alone.chosen.values()) == {tb.id}


def test_show_training_states_where_each_metric_came_from(tmp_path):
    folder, _ = _copy("lightning", "finished", tmp_path)
    index = tmp_path / "cli-index.sqlite"

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "labdeck", *args, "--index", str(index)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("add", str(folder))
    cli("index")
    runs = {r["source_id"]: r for r in json.loads(cli("runs", "--json"))}
    csv, tb = runs["live/version_0"], runs["tb_logs/live/version_0"]
    assert tb["parent"] == csv["id"]  # --json keeps each source's id and the link
    shown = json.loads(cli("show", "live/version_0", "--training", "--series", "--json"))
    assert shown["source_id"] == "live/version_0"
    assert shown["series_from"]["train_loss"] == tb["id"] and "hp_metric" in shown["series"]
    text = cli("show", csv["id"], "--training", "--series")
    assert f"series train_loss (12 points from {tb['id']})" in text


# Models -----------------------------------------------------------------------------------


def test_model_candidates_are_the_checkpoints_of_the_run(workspace, tmp_path, monkeypatch):
    from labdeck.models.versions import ModelService

    _clock(monkeypatch, QUIET + 1)
    lightning = _runs(workspace, _copy("lightning", "finished", tmp_path)[0])
    hf = _runs(workspace, _copy("hf", "finished", tmp_path)[0])
    models = ModelService(workspace.db)
    found = {c.candidate.rel: c.candidate.format for c in models.candidates(lightning["live/version_0"].id)}
    assert found == {"checkpoints/epoch=2-step=12.ckpt": "ckpt"}
    found = {c.candidate.rel: c.candidate.format for c in models.candidates(hf["tiny-cls"].id)}
    assert found == {"checkpoint-4": "hf", "checkpoint-8": "hf", "checkpoint-12": "hf"}


def test_an_hf_run_without_tensorboard_starts_with_its_oldest_checkpoint(workspace, tmp_path, monkeypatch):
    _clock(monkeypatch, QUIET + 1)
    folder, _ = _copy("hf", "finished", tmp_path)
    output = folder / "tiny-cls"
    shutil.rmtree(output / "runs")  # report_to="none": no event files, no wall times
    os.utime(output / "checkpoint-4", (WROTE_AT - 120, WROTE_AT - 120))
    os.utime(output, (WROTE_AT, WROTE_AT))
    run = _runs(workspace, folder)["tiny-cls"]
    assert (run.start_time, run.end_time) == (int((WROTE_AT - 120) * 1000), int(WROTE_AT * 1000))
    assert run.name == "tiny-cls"  # no recorded run_name: the output folder


def test_an_event_file_names_its_writer_and_only_a_gone_one_of_this_host_counts():
    import socket

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone, alive, host = int(ended.stdout), os.getpid(), socket.gethostname()
    name = "events.out.tfevents.1796613777.{}.{}.0{}".format
    assert _liveness.writers_gone([name(host, gone, "")])
    assert _liveness.writers_gone([name(host, gone, ".v2"), name(host, gone, ".profile-empty")])
    assert not _liveness.writers_gone([name(host, gone, ""), name(host, alive, "")])  # one still writes
    assert not _liveness.writers_gone([name("other.host.example", gone, "")])  # cannot ask another machine
    assert not _liveness.writers_gone(["events.out.tfevents.1796613777.somewhere"])  # no pid named
    assert not _liveness.writers_gone([])


@pytest.mark.parametrize("writer", ["ended", "alive"])
def test_a_trainer_whose_writer_process_ended_stops_after_the_grace_not_the_quiet_period(
        workspace, tmp_path, monkeypatch, writer):
    """The mid-training capture, its event file renamed as this host's process would name it."""
    import socket

    mid, _ = _copy("hf", "mid", tmp_path)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(ended.stdout) if writer == "ended" else os.getpid()
    [events] = list(mid.rglob("events.out.tfevents.*"))
    stamp = events.name.split(".")[3]
    renamed = events.with_name(f"events.out.tfevents.{stamp}.{socket.gethostname()}.{pid}.0")
    events.rename(renamed)
    os.utime(renamed, (WROTE_AT, WROTE_AT))
    _clock(monkeypatch, 5)
    assert {r.status for r in _runs(workspace, mid).values()} == {"running"}  # within the grace
    _clock(monkeypatch, _liveness.WRITER_GONE_GRACE_S + 1)
    workspace.index()
    statuses = {r.format: r.status for r in workspace.runs()}
    if writer == "ended":  # stopped short of max_steps, its writer gone: killed; its TensorBoard run ended
        assert statuses == {"hf-trainer": "killed", "tensorboard": "finished"}
    else:
        assert statuses == {"hf-trainer": "running", "tensorboard": "running"}
