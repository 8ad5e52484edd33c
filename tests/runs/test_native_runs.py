"""Native runs: what the SDK writes reads back exactly, including after crashes."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import labdeck
from labdeck.runs import native_format as fmt
from labdeck.runs.readers.native import READER


def _source(run_dir: Path, project: Path):
    from labdeck.runs.readers.base import SourceRef, relpath

    return SourceRef("labdeck", run_dir, relpath(run_dir, project))


def test_sdk_run_reads_back_exactly(project):
    values = [0.5, math.nan, math.inf, -math.inf, -0.0, 1e-300, 123456789.123456789]
    with labdeck.start_run(project, name="ünïcode run", experiment="exp", params={"lr": 0.01, "layers": [1, 2]}) as run:
        for step, v in enumerate(values):
            run.log({"loss": v, "val/acc, \"top1\"": step * 0.1}, step=step * 10)
        run.set_tags({"model": "resnet"})
        run.log_params({"late": True})
    result = READER.read(_source(run.dir, project))
    assert result.complete and len(result.runs) == 1
    rec = result.runs[0]
    assert rec.source_id == run.id
    assert rec.meta["name"] == "ünïcode run" and rec.meta["experiment"] == "exp"
    assert rec.meta["status"] == "finished" and rec.meta["end_time"] >= rec.meta["start_time"]
    assert rec.params == {"lr": "0.01", "layers": "[1, 2]", "late": "True"}
    assert rec.tags == {"model": "resnet"}
    loss = rec.points["loss"]
    assert loss.steps.tolist() == [0, 10, 20, 30, 40, 50, 60]
    np.testing.assert_array_equal(loss.values, np.array(values))
    assert rec.points['val/acc, "top1"'].values.tolist() == [s * 0.1 for s in range(7)]
    assert not rec.warnings


def test_failed_block_marks_run_failed(project):
    with pytest.raises(ZeroDivisionError):
        with labdeck.start_run(project, record_provenance=False) as run:
            run.log({"x": 1})
            1 / 0
    rec = READER.read(_source(run.dir, project)).runs[0]
    assert rec.meta["status"] == "failed"
    assert "ZeroDivisionError" in rec.tags["labdeck.error"]


def test_provenance_is_recorded(project):
    with labdeck.start_run(project) as run:
        pass
    prov = READER.read(_source(run.dir, project)).runs[0].meta["provenance"]
    assert prov["cwd"] == os.getcwd()
    assert prov["python"]["version"].count(".") == 2
    assert "labdeck" in {k.lower() for k in prov["packages"]}
    assert prov["host"]["hostname"]
    assert isinstance(prov["gpus"], list)


def test_non_numeric_metric_is_refused_clearly(project):
    with labdeck.start_run(project, record_provenance=False) as run:
        with pytest.raises(TypeError, match="metric 'x': expected a number, got str"):
            run.log({"x": "high"})


def test_killed_run_loses_at_most_the_line_being_written(project):
    script = textwrap.dedent(
        f"""
        import labdeck, os, signal
        run = labdeck.start_run({str(project)!r}, name="doomed", record_provenance=False)
        for i in range(500):
            run.log({{"loss": 1.0 / (i + 1)}}, step=i)
        print(run.dir, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL
    run_dir = Path(done.stdout.strip())
    # Simulate the kill landing mid-write too: half a line at the end.
    with open(run_dir / fmt.METRICS_FILE, "ab") as f:
        f.write(b"loss,500,0.00")
    rec = READER.read(_source(run_dir, project)).runs[0]
    assert rec.meta["status"] == "killed"
    assert rec.points["loss"].steps.tolist() == list(range(500))
    assert rec.points["loss"].values.tolist() == [1.0 / (i + 1) for i in range(500)]
    codes = [w.code for w in rec.warnings]
    assert codes == ["truncated-line"]


def test_a_writer_killed_while_starting_its_run_leaves_no_folder_that_is_not_a_run(project, workspace):
    """A kill can land between the run folder's creation and its meta file (found in CI: 17
    folders, 16 runs). Every visible run folder must be a whole run, indexed once."""
    import random
    import time

    script = textwrap.dedent(
        f"""
        import labdeck
        print("ready", flush=True)
        while True:
            labdeck.start_run({str(project)!r}, record_provenance=False).end()
        """
    )
    rng = random.Random(7)
    runs = project / fmt.RUNS_FOLDER

    def started() -> int:
        return len(list(runs.iterdir())) if runs.is_dir() else 0

    for _ in range(8):
        before = started()
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 30
        while started() < before + 2 and time.monotonic() < deadline:  # a loaded machine starts slowly
            time.sleep(0.005)
        time.sleep(rng.uniform(0.02, 0.2))  # dozens of runs started: the kill lands anywhere in one
        child.kill()
        child.wait(30)
        child.stdout.close()
    def staged():
        return [d for d in (project / fmt.RUNS_FOLDER).iterdir() if fmt.is_staging(d.name)]

    # The next run clears what dead writers staged: at once where their lock names them, a
    # minute on where they died before writing it whole (a live writer may be just about to).
    labdeck.start_run(project, record_provenance=False).end()
    assert all(not fmt.lock_is_stale((d / fmt.LOCK_FILE).read_text()) for d in staged()
               if (d / fmt.LOCK_FILE).exists())
    for d in staged():
        os.utime(d, (time.time() - 120, time.time() - 120))
    labdeck.start_run(project, record_provenance=False).end()
    assert staged() == []
    visible = list((project / fmt.RUNS_FOLDER).iterdir())
    assert len(visible) > 8
    assert all((d / fmt.META_FILE).is_file() for d in visible)
    workspace.add_project(project)
    workspace.index()
    assert sorted(Path(r.path).name for r in workspace.runs()) == sorted(d.name for d in visible)


def test_read_on_returns_only_new_points_and_waits_for_half_lines(project):
    run = labdeck.start_run(project, record_provenance=False)
    run.log({"a": 1.0}, step=0)
    source = _source(run.dir, project)
    first = READER.read(source)
    assert first.runs[0].meta["status"] == "running"
    run.log({"a": 2.0}, step=1)
    with open(run.dir / fmt.METRICS_FILE, "ab") as f:
        f.write(b"a,2,3.")  # a write in progress
    second = READER.read_on(source, first.cursor)
    assert second.runs[0].points["a"].values.tolist() == [2.0]
    assert not second.complete
    with open(run.dir / fmt.METRICS_FILE, "ab") as f:
        f.write(b"5,1\n")
    third = READER.read_on(source, second.cursor)
    assert third.runs[0].points["a"].values.tolist() == [3.5]
    run.end()
    fourth = READER.read_on(source, third.cursor)
    assert fourth.runs[0].meta["status"] == "finished" and not fourth.runs[0].points


def test_garbage_lines_become_warnings_and_good_lines_survive(project):
    with labdeck.start_run(project, record_provenance=False) as run:
        run.log({"a": 1.0}, step=0)
    with open(run.dir / fmt.METRICS_FILE, "ab") as f:
        f.write(b"\x00\xff\xfe garbage\n")
        f.write(b"a,not-a-step,1,2\n")
        f.write(b"a,5,2.5,1700000000000\n")
    with open(run.dir / fmt.EVENTS_FILE, "ab") as f:
        f.write(b"{not json\n")
    rec = READER.read(_source(run.dir, project)).runs[0]
    assert rec.points["a"].steps.tolist() == [0, 5]
    assert rec.points["a"].values.tolist() == [1.0, 2.5]
    codes = sorted(w.code for w in rec.warnings)
    assert codes == ["bad-event-line", "bad-metric-line", "bad-metric-line"]
    assert any("line 3" in w.message for w in rec.warnings if w.code == "bad-metric-line")


def test_unreadable_run_file_is_a_warning_and_costs_only_its_fields(project):
    with labdeck.start_run(project, record_provenance=False) as run:
        run.log({"loss": 1.0}, step=0)
    (run.dir / fmt.META_FILE).write_text("{broken")
    [record] = READER.read(_source(run.dir, project)).runs
    assert record.source_id == run.dir.name  # no id left: the folder name stands for it
    [warning] = record.warnings  # one warning for the file, naming both problems
    assert warning.code == "bad-run-file"
    assert "not valid JSON" in warning.message and "folder name stands for it" in warning.message
    assert record.points["loss"].values.tolist() == [1.0]


def test_a_damaged_run_file_keeps_the_fields_that_still_parse(project):
    with labdeck.start_run(project, name="kept", params={"lr": 0.1}, record_provenance=False) as run:
        pass
    path = run.dir / fmt.META_FILE
    path.write_bytes(path.read_bytes().replace(b'"name"', b'\xff,, "name"', 1))
    [record] = READER.read(_source(run.dir, project)).runs
    assert record.source_id == run.id and record.meta["name"] == "kept" and record.params == {"lr": "0.1"}
    assert [w.code for w in record.warnings] == ["bad-run-file"]


def test_dataset_and_model_events_become_inputs_and_models(project, workspace):
    import json as _json

    run = labdeck.start_run(project, record_provenance=False)
    events = run.dir / fmt.EVENTS_FILE
    line = {"type": "dataset", "name": "mnist", "version": 2, "digest": "abc123", "context": "training", "time": 1}
    with open(events, "a") as f:
        f.write(_json.dumps(line) + "\n")
    workspace.add_project(project)
    workspace.index()
    info = workspace.run(run.id)
    assert [(i["name"], i["source"], i["digest"], i["context"]) for i in info.inputs] == [
        ("mnist", "mnist:2", "abc123", "training")]
    (run.dir / "artifacts" / "models" / "clf").mkdir(parents=True)
    with open(events, "a") as f:
        f.write(_json.dumps({"type": "model", "name": "clf", "path": "artifacts/models/clf", "time": 2}) + "\n")
    workspace.index()  # read on: the earlier dataset input must survive
    info = workspace.run(run.id)
    assert [i["source"] for i in info.inputs] == ["mnist:2"]
    assert [(m["name"], m["artifact_path"]) for m in info.models] == [("clf", str(run.dir / "artifacts/models/clf"))]
    run.end()


def test_a_step_past_64_bits_costs_only_its_line(project):
    with labdeck.start_run(project, record_provenance=False) as run:
        for s in range(3):
            run.log({"loss": float(s)}, step=s)
    metrics = run.dir / fmt.METRICS_FILE
    metrics.write_text(metrics.read_text().replace("loss,1,", "loss,99999999999999999999,", 1))
    [record] = READER.read(_source(run.dir, project)).runs
    assert record.points["loss"].steps.tolist() == [0, 2]
    assert [w.code for w in record.warnings] == ["bad-metric-line"]


def test_a_damaged_run_file_keeps_the_run_id_it_still_holds(project):
    with labdeck.start_run(project, record_provenance=False) as run:
        run.log({"loss": 1.0}, step=0)
    meta = run.dir / fmt.META_FILE
    text = meta.read_text()
    meta.write_text(text.replace('"id":', '"id"\\', 1))  # the id's key damaged, its value intact
    [record] = READER.read(_source(run.dir, project)).runs
    assert record.source_id == run.id
    [warning] = record.warnings
    assert "folder name begins" in warning.message
