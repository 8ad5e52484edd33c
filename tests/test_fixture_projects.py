"""Whole fixture projects (written by the real tools) through the index, as a user adds them."""

from __future__ import annotations

import json
import math

import pytest

from tests_support import tree_snapshot


def _index(workspace, folder):
    before = tree_snapshot(folder)
    workspace.add_project(folder)
    stats = workspace.index()
    assert tree_snapshot(folder) == before  # nothing written into the tool's folders
    return stats


def _same(a: float, b) -> bool:
    b = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(b, b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def _assert_series(series, expected_points: dict[str, list[dict]]) -> None:
    for key, points in expected_points.items():
        assert series[key].steps.tolist() == [p["step"] for p in points]
        assert all(_same(v, p["value"]) for v, p in zip(series[key].values.tolist(), points, strict=True))


def test_lightning_project(workspace, fixtures_dir):
    folder = fixtures_dir / "lightning-csv"
    expected = json.loads((folder / "expected.json").read_text())
    _index(workspace, folder)
    runs = {r.source_id: r for r in workspace.runs()}
    assert set(runs) == set(expected["runs"])
    for source_id, exp in expected["runs"].items():
        _assert_series(workspace.series(runs[source_id].id), exp["series"])


def test_hf_trainer_project(workspace, fixtures_dir):
    folder = fixtures_dir / "hf-trainer"
    expected = json.loads((folder / "expected.json").read_text())
    _index(workspace, folder)
    names = sorted(r.source_id for r in workspace.runs())
    assert names == ["killed-run", "long-run", "no-logs", "tiny-bert-cls"]  # one run per output folder
    long_run = next(r for r in workspace.runs() if r.source_id == "long-run")
    history = expected["states"]["long-run/trainer_state.json"]["log_history"]
    assert long_run.metrics["loss"].count == sum("loss" in row for row in history) >= 1000


def test_tensorboard_project(workspace, fixtures_dir):
    folder = fixtures_dir / "tensorboard"
    expected = json.loads((folder / "expected.json").read_text())
    _index(workspace, folder)
    runs = {r.source_id: r for r in workspace.runs()}
    assert set(runs) == set(expected["runs"])
    for source_id, exp in expected["runs"].items():
        _assert_series(workspace.series(runs[source_id].id), exp["scalars"])


@pytest.mark.parametrize("name", ["mlflow-sqlite", "mlflow-file"])
def test_mlflow_projects(workspace, fixtures_dir, name):
    pytest.importorskip(f"labdeck.runs.readers.{name.replace('-', '_')}")
    folder = fixtures_dir / name
    expected = json.loads((folder / "expected.json").read_text())
    _index(workspace, folder)
    runs = {r.source_id: r for r in workspace.runs("", include_deleted=True) if r.format == "mlflow"}
    assert set(runs) == {r["run_id"] for r in expected["runs"]}
    for exp in expected["runs"]:
        run = runs[exp["run_id"]]
        assert run.status == exp["status"].lower()
        assert run.deleted == (exp["lifecycle_stage"] == "deleted") or run.deleted
        assert run.params == exp["params"]
        assert {k: m.count for k, m in run.metrics.items()} == {
            k: len(v) for k, v in exp["metric_history"].items()
        }
        if exp["parent_run_id"]:
            assert run.parent == runs[exp["parent_run_id"]].id
        want_inputs = sorted((d["name"], d["digest"]) for d in exp["inputs"]["dataset_inputs"])
        assert sorted((i["name"], i["digest"]) for i in run.inputs) == want_inputs
    produced = {(m["source_run_id"], m["model_id"]) for m in expected["logged_models"]}
    found = {(run.source_id, m["model_id"]) for run in runs.values() for m in run.models}
    assert found == produced
    registered = {r["name"]: r for r in workspace.registered_models()}
    for exp in expected["registered_models"]:
        got = registered[exp["name"]]
        assert got["aliases"] == exp["aliases"]
        assert sorted(v["version"] for v in got["versions"]) == sorted(v["version"] for v in exp["versions"])
