"""One training, one run in the table and compare: a Lightning training's CSVLogger and
TensorBoardLogger versions (real logs, tests/fixtures/recognisable) fold into one row and
one curve per metric, drawn from the richest source."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "recognisable" / "lightning" / "finished"


def test_the_tensorboard_twin_folds_into_its_csv_run(open_window, gui, workspace, tmp_path):
    folder = tmp_path / "lightning"
    shutil.copytree(FIXTURE, folder)
    workspace.add_project(folder)
    workspace.index()
    runs = {r.source_id: r for r in workspace.runs()}
    csv, tb = runs["live/version_0"], runs["tb_logs/live/version_0"]
    w = open_window(rows=1)  # one row: the TensorBoard version is folded under the CSV one
    assert w.runs.model.tree.top and len(w.runs.model.tree.top) == 1
    gui.select(w, [0])
    w.compare.set_metrics(["train_loss"])
    gui.idle(w)
    assert [r.id for r in w.compare.runs] == [csv.id]
    assert len(w.compare.curves("train_loss")) == 1
    # The points are TensorBoard's (the same values, with the wall times metrics.csv lacks).
    walls = w.compare.series[csv.id]["train_loss"].walls
    assert np.isfinite(walls).all()
    # Selecting the twin too still draws the training once.
    w.compare.set_runs([csv, tb])
    gui.idle(w)
    assert [r.id for r in w.compare.runs] == [csv.id]
