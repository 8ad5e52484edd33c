"""The MLflow file-store reader against the fixture written by mlflow itself (expected.json)."""

from __future__ import annotations

import builtins
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from labdeck.runs.readers import _mlflow_file_io, _mlflow_metric_files, mlflow_file
from labdeck.runs.readers.base import RUN_FIELDS, STATUSES, ReadResult, RunRecord, SourceRef

READER = mlflow_file.READER
_SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


# -- helpers ---------------------------------------------------------------------------------


def _num(value: Any) -> float:
    return _SPECIAL[value] if isinstance(value, str) else float(value)


def _vkey(value: float) -> str:
    """repr tells NaN, ±inf and -0.0 apart, so a multiset of records compares them exactly."""
    return repr(float(value))


def _src(store: Path) -> SourceRef:
    return SourceRef("mlflow", store, "mlruns")


def _run_path(store: Path, run: dict[str, Any]) -> Path:
    path = store / run["experiment_id"] / run["run_id"]
    return path if path.is_dir() else store / ".trash" / run["experiment_id"] / run["run_id"]


def _by_id(result: ReadResult) -> dict[str, RunRecord]:
    return {r.source_id: r for r in result.runs}


def _copy(src: Path, dst: Path) -> Path:
    """A writable copy of the (read-only) fixture store."""
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    for root, _, files in os.walk(dst):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return dst


def _codes(warnings: list) -> list[str]:
    return [w.code for w in warnings]


def _points(rec: RunRecord, key: str) -> list[tuple[int, float, str]]:
    p = rec.points[key]
    return list(zip(p.steps.tolist(), p.walls.tolist(), [_vkey(v) for v in p.values]))


def _history(records: list[dict[str, Any]]) -> Counter:
    """expected.json's metric history as a multiset of (step, wall ms, value repr)."""
    return Counter((h["step"], float(h["timestamp"]), _vkey(_num(h["value"]))) for h in records)


def _set_meta(path: Path, **changes: Any) -> None:
    meta = yaml.safe_load(path.read_text())
    meta.update(changes)
    path.write_text(yaml.safe_dump(meta))


@pytest.fixture(scope="module")
def expected(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / "mlflow-file" / "expected.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def store(fixtures_dir: Path) -> Path:
    return fixtures_dir / "mlflow-file" / "mlruns"


@pytest.fixture(scope="module")
def full(store: Path) -> ReadResult:
    return READER.read(_src(store))


@pytest.fixture
def copy(store: Path, tmp_path: Path) -> Path:
    return _copy(store, tmp_path / "mlruns")


def _running(expected: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in expected["runs"] if r["status"] == "RUNNING")


def _finished_with_metrics(expected: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in expected["runs"] if r["status"] == "FINISHED"
                and r["lifecycle_stage"] == "active" and r["metric_history"] and r["params"])


# -- detection -------------------------------------------------------------------------------


def test_detects_the_store_and_claims_it(store: Path) -> None:
    det = READER.detect(store, frozenset(os.listdir(store)), "mlruns")
    assert det is not None and det.claim_all
    assert det.sources == [SourceRef("mlflow", store, "mlruns")]


@pytest.mark.parametrize("folder", ["mlflow-file", "mlflow-sqlite", "mlflow-sqlite/mlruns",
                                    "mlflow-sqlite/mlruns/1", "lightning-csv", "tensorboard"])
def test_does_not_detect_other_folders(fixtures_dir: Path, folder: str) -> None:
    path = fixtures_dir / folder
    assert READER.detect(path, frozenset(os.listdir(path)), folder) is None


def test_detects_a_store_whose_experiments_are_all_deleted(store: Path, tmp_path: Path) -> None:
    exp = next(p for p in (store / ".trash").iterdir())
    target = tmp_path / "old-runs"
    _copy(exp, target / ".trash" / exp.name)
    assert READER.detect(target, frozenset(os.listdir(target)), "old-runs") is not None


# -- a full read against expected.json -------------------------------------------------------


def test_lists_every_run_with_its_columns(full: ReadResult, expected: dict[str, Any],
                                          store: Path) -> None:
    assert full.complete and not full.warnings
    exps = {e["experiment_id"]: e for e in expected["experiments"]}
    runs = _by_id(full)
    assert set(runs) == {r["run_id"] for r in expected["runs"]}
    for want in expected["runs"]:
        rec = runs[want["run_id"]]
        exp = exps[want["experiment_id"]]
        assert set(rec.meta) <= set(RUN_FIELDS) and rec.meta["status"] in STATUSES
        assert rec.meta == {
            "experiment": exp["name"],
            "name": want["run_name"],
            "status": want["status"].lower(),
            "deleted": want["lifecycle_stage"] == "deleted" or exp["lifecycle_stage"] == "deleted",
            "parent_source_id": want["parent_run_id"],
            "start_time": want["start_time"],
            "end_time": want["end_time"],
            "path": "mlruns/" + _run_path(store, want).relative_to(store).as_posix(),
        }, want["run_id"]
        assert rec.params == want["params"] and rec.tags == want["tags"]
        assert rec.replace_params and rec.replace_tags and rec.replace_series
        assert rec.warnings == []


def test_every_metric_record_matches(full: ReadResult, expected: dict[str, Any]) -> None:
    runs = _by_id(full)
    total = 0
    for want in expected["runs"]:
        rec = runs[want["run_id"]]
        assert set(rec.points) == set(want["metric_history"]), want["run_id"]
        for key, history in want["metric_history"].items():
            got = Counter(_points(rec, key))
            assert got == _history(history), (want["run_id"], key)
            total += len(history)
    assert total > 5000  # the 5000-step series is among them


def test_points_keep_the_file_order(full: ReadResult, expected: dict[str, Any],
                                    store: Path) -> None:
    run = next(r for r in expected["runs"] if "backwards_time" in r["metric_history"])
    rec = _by_id(full)[run["run_id"]]
    for key in ("backwards_time", "dup_loss"):
        lines = (_run_path(store, run) / "metrics" / key).read_text().split()
        rows = [lines[i:i + 3] for i in range(0, len(lines), 3)]
        assert _points(rec, key) == [(int(s), float(t), _vkey(float(v))) for t, v, s in rows]


def test_points_have_the_interface_dtypes(full: ReadResult) -> None:
    pts = next(p for r in full.runs for p in r.points.values())
    assert pts.steps.dtype == np.int64
    assert pts.values.dtype == pts.walls.dtype == np.float64


def test_dataset_inputs_match(full: ReadResult, expected: dict[str, Any]) -> None:
    runs = _by_id(full)
    for want in expected["runs"]:
        got = sorted(runs[want["run_id"]].inputs, key=lambda d: d["name"])
        exp = sorted(want["inputs"]["dataset_inputs"], key=lambda d: d["name"])
        assert [{k: v for k, v in d.items() if k != "context"} for d in got] == exp
        assert [d["context"] for d in got] == [d["tags"].get("mlflow.data.context") for d in exp]
    assert sum(len(r.inputs) for r in full.runs) == 4


def test_logged_models_match(full: ReadResult, expected: dict[str, Any], store: Path) -> None:
    runs = _by_id(full)
    logged = {m["model_id"]: m for m in expected["logged_models"]}
    for want in expected["runs"]:
        models = runs[want["run_id"]].models
        outputs = {o["model_id"]: o["step"] for o in want["outputs"]["model_outputs"]}
        produced = {i for i, m in logged.items() if m["source_run_id"] == want["run_id"]}
        assert {m["model_id"] for m in models} == set(outputs) == produced
        for model in models:
            lm = logged[model["model_id"]]
            assert model == {
                "model_id": lm["model_id"], "name": lm["name"], "step": outputs[lm["model_id"]],
                "artifact_path": str(store / lm["experiment_id"] / "models" / lm["model_id"]
                                     / "artifacts"),
                "status": lm["status"], "model_type": lm["model_type"],
                "created": lm["creation_timestamp"], "tags": lm["tags"], "params": lm["params"],
                "metrics": [{k: v for k, v in m.items() if k != "run_id"} for m in lm["metrics"]],
            }
    assert sum(len(r.models) for r in full.runs) == len(logged) == 2


def test_registered_models_match(full: ReadResult, expected: dict[str, Any]) -> None:
    want = [{
        "name": m["name"], "description": m["description"], "tags": m["tags"],
        "aliases": m["aliases"], "created": m["creation_timestamp"],
        "versions": [{
            "version": v["version"], "source": v["source"], "run_source_id": v["run_id"],
            "model_id": v["model_id"], "status": v["status"], "stage": v["current_stage"],
            "aliases": v["aliases"], "tags": v["tags"], "description": v["description"],
            "created": v["creation_timestamp"],
        } for v in m["versions"]],
    } for m in expected["registered_models"]]
    assert full.registered_models == want


def test_artifacts_resolve_inside_the_moved_store(full: ReadResult, expected: dict[str, Any],
                                                  store: Path) -> None:
    assert not Path(expected["generated_in"]).exists()  # the recorded paths point nowhere here
    runs = _by_id(full)
    for want in expected["runs"]:
        assert want["artifact_uri"].startswith(expected["generated_in"])
        art = Path(runs[want["run_id"]].artifact_dir)
        assert art == _run_path(store, want) / "artifacts"
        files = sorted((p.relative_to(art).as_posix(), p.stat().st_size)
                       for p in art.rglob("*") if p.is_file()) if art.is_dir() else []
        assert files == sorted((a["path"], a["file_size"]) for a in want["artifacts"])


def test_recorded_artifact_folder_wins_when_it_exists(copy: Path, expected: dict[str, Any],
                                                      tmp_path: Path) -> None:
    run = _finished_with_metrics(expected)
    elsewhere = tmp_path / "shared-artifacts"
    elsewhere.mkdir()
    _set_meta(_run_path(copy, run) / "meta.yaml", artifact_uri=elsewhere.as_uri())
    assert _by_id(READER.read(_src(copy)))[run["run_id"]].artifact_dir == str(elsewhere)


# -- incremental reading ----------------------------------------------------------------------


def test_cursor_is_json_and_an_unchanged_store_gives_nothing(full: ReadResult, store: Path) -> None:
    cursor = json.loads(json.dumps(full.cursor, allow_nan=False))
    fp = READER.fingerprint(_src(store))
    again = READER.read_on(_src(store), cursor)
    assert again.runs == [] and not again.complete and again.registered_models is None
    assert READER.fingerprint(_src(store)) == fp


def test_points_appended_to_a_live_run_are_read_on(copy: Path, expected: dict[str, Any]) -> None:
    run = _running(expected)
    src = _src(copy)
    first = READER.read(src)
    fp = READER.fingerprint(src)
    metric = _run_path(copy, run) / "metrics" / "loss"
    with open(metric, "ab") as f:
        f.write(b"1795714099000 0.25 3\n1795714099001 0.2")  # the last line is half written
    assert READER.fingerprint(src) != fp
    second = READER.read_on(src, first.cursor)
    assert [r.source_id for r in second.runs] == [run["run_id"]]
    rec = second.runs[0]
    assert _points(rec, "loss") == [(3, 1795714099000.0, "0.25")] and not rec.replace_series
    assert [(w.code, w.transient) for w in rec.warnings] == [("partial-line", True)]
    assert "metrics/loss" in rec.warnings[0].path
    with open(metric, "ab") as f:
        f.write(b"5 4\n")
    third = READER.read_on(src, second.cursor)
    assert _points(third.runs[0], "loss") == [(4, 1795714099001.0, "0.25")]
    assert third.runs[0].warnings == []
    assert READER.read_on(src, third.cursor).runs == []


def test_new_params_tags_and_metrics_of_a_live_run(copy: Path, expected: dict[str, Any]) -> None:
    run = _running(expected)
    src = _src(copy)
    first = READER.read(src)
    path = _run_path(copy, run)
    (path / "params" / "lr").write_text("0.1")
    (path / "tags" / "mlflow.parentRunId").write_text("abc")
    (path / "metrics" / "val").mkdir()
    (path / "metrics" / "val" / "acc").write_text("1795714099000 nan 0\n1795714099000 -inf 1\n")
    rec = READER.read_on(src, first.cursor).runs[0]
    assert rec.params == {"lr": "0.1"} and rec.tags == {"mlflow.parentRunId": "abc"}
    assert rec.meta == {"parent_source_id": "abc"}
    assert set(rec.points) == {"val/acc"}
    assert _points(rec, "val/acc") == [(0, 1795714099000.0, "nan"), (1, 1795714099000.0, "-inf")]


def test_a_live_run_that_finishes(copy: Path, expected: dict[str, Any]) -> None:
    run = _running(expected)
    src = _src(copy)
    first = READER.read(src)
    _set_meta(_run_path(copy, run) / "meta.yaml", status=3, end_time=1795714099999)
    rec = READER.read_on(src, first.cursor).runs[0]
    assert rec.meta["status"] == "finished" and rec.meta["end_time"] == 1795714099999
    assert rec.points == {}


def test_a_new_run_is_read_whole(copy: Path, expected: dict[str, Any]) -> None:
    src = _src(copy)
    first = READER.read(src)
    run = _finished_with_metrics(expected)
    new_id = "f" * 32
    new = _run_path(copy, run).parent / new_id
    fp = READER.fingerprint(src)
    shutil.copytree(_run_path(copy, run), new)
    _set_meta(new / "meta.yaml", run_id=new_id, run_name="copied")
    assert READER.fingerprint(src) != fp
    second = READER.read_on(src, first.cursor)
    assert [r.source_id for r in second.runs] == [new_id]
    rec = second.runs[0]
    assert rec.meta["name"] == "copied" and rec.params == run["params"]
    assert rec.replace_series and rec.models == []
    assert {k: len(p) for k, p in rec.points.items()} == {
        k: len(h) for k, h in run["metric_history"].items()}


def test_a_rewritten_metric_file_replaces_the_series(copy: Path, expected: dict[str, Any]) -> None:
    run = _running(expected)
    src = _src(copy)
    first = READER.read(src)
    (_run_path(copy, run) / "metrics" / "loss").write_bytes(b"1795714099000 7.0 0\n")
    rec = READER.read_on(src, first.cursor).runs[0]
    assert rec.replace_series and _points(rec, "loss") == [(0, 1795714099000.0, "7.0")]


def test_a_deleted_experiment_moves_to_trash(copy: Path, expected: dict[str, Any]) -> None:
    exp = next(e for e in expected["experiments"] if e["name"] == "edge-cases")
    src = _src(copy)
    first = READER.read(src)
    _set_meta(copy / exp["experiment_id"] / "meta.yaml", lifecycle_stage="deleted")
    os.rename(copy / exp["experiment_id"], copy / ".trash" / exp["experiment_id"])
    second = READER.read_on(src, first.cursor)
    in_exp = {r["run_id"] for r in expected["runs"] if r["experiment_id"] == exp["experiment_id"]}
    assert {r.source_id for r in second.runs} == in_exp
    assert all(r.meta["deleted"] and "/.trash/" in r.meta["path"] for r in second.runs)


def test_a_removed_run_makes_a_complete_read(copy: Path, expected: dict[str, Any]) -> None:
    src = _src(copy)
    first = READER.read(src)
    run = _finished_with_metrics(expected)
    shutil.rmtree(_run_path(copy, run))
    second = READER.read_on(src, first.cursor)
    assert second.complete and len(second.runs) == len(expected["runs"]) - 1


def test_registry_changes_are_read_on(copy: Path) -> None:
    src = _src(copy)
    first = READER.read(src)
    (copy / "models" / "mnist-classifier" / "aliases" / "challenger").write_text("2")
    second = READER.read_on(src, first.cursor)
    assert second.registered_models[0]["aliases"] == {"champion": "1", "challenger": "2"}
    assert second.registered_models[0]["versions"][1]["aliases"] == ["challenger"]


# -- bad input -----------------------------------------------------------------------------


def test_corrupt_meta_yaml_is_a_warning(copy: Path, expected: dict[str, Any]) -> None:
    run = _finished_with_metrics(expected)
    (_run_path(copy, run) / "meta.yaml").write_bytes(b"run_id: [unclosed\n\x00\xff")
    result = READER.read(_src(copy))
    rec = _by_id(result)[run["run_id"]]
    assert len(result.runs) == len(expected["runs"]) and result.complete
    assert _codes(rec.warnings) == ["bad-meta-yaml"] and "meta.yaml" in rec.warnings[0].message
    assert rec.meta["status"] == "unknown" and rec.params == run["params"]
    assert set(rec.points) == set(run["metric_history"])


def test_corrupt_experiment_meta_is_a_warning(copy: Path, expected: dict[str, Any]) -> None:
    exp = next(e for e in expected["experiments"] if e["name"] == "edge-cases")
    (copy / exp["experiment_id"] / "meta.yaml").write_text("- just\n- a list\n")
    result = READER.read(_src(copy))
    assert _codes(result.warnings) == ["bad-meta-yaml"]
    assert len(result.runs) == len(expected["runs"])


def test_garbage_metric_lines_are_skipped_with_a_warning(copy: Path,
                                                         expected: dict[str, Any]) -> None:
    run = next(r for r in expected["runs"] if "train/loss_per_step" in r["metric_history"])
    metric = _run_path(copy, run) / "metrics" / "train" / "loss_per_step"
    lines = metric.read_bytes().splitlines(keepends=True)
    garbage = [b"garbage\x00\xff line\n", b"1 2 3 4\n"]
    metric.write_bytes(b"".join(lines[:10] + garbage + lines[10:]))
    rec = _by_id(READER.read(_src(copy)))[run["run_id"]]
    assert _codes(rec.warnings) == ["bad-metric-line"] and "2 malformed" in rec.warnings[0].message
    history = run["metric_history"]["train/loss_per_step"]
    assert Counter(_points(rec, "train/loss_per_step")) == _history(history)


def test_a_cut_last_line_of_a_finished_run(copy: Path, expected: dict[str, Any]) -> None:
    run = next(r for r in expected["runs"] if r["status"] == "FINISHED"
               and len(r["metric_history"].get("loss", [])) > 10)
    key = "loss"
    metric = _run_path(copy, run) / "metrics" / key
    metric.write_bytes(metric.read_bytes()[:-3])
    rec = _by_id(READER.read(_src(copy)))[run["run_id"]]
    assert _codes(rec.warnings) == ["truncated-line"] and not rec.warnings[0].transient
    assert len(rec.points[key]) == len(run["metric_history"][key]) - 1


@pytest.mark.parametrize("error, code", [
    (PermissionError(13, "Permission denied"), "unreadable-file"),
    (FileNotFoundError(2, "gone"), "vanished"),
])
def test_unreadable_or_vanishing_files(copy: Path, expected: dict[str, Any],
                                       monkeypatch: pytest.MonkeyPatch, error: OSError,
                                       code: str) -> None:
    run = _finished_with_metrics(expected)
    bad_param = str(_run_path(copy, run) / "params" / next(iter(run["params"])))

    def fake_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path) == bad_param:
            raise error
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(_mlflow_file_io, "open", fake_open, raising=False)
    rec = _by_id(READER.read(_src(copy)))[run["run_id"]]
    assert _codes(rec.warnings) == [code] and rec.warnings[0].path.endswith(
        "params/" + next(iter(run["params"])))
    assert len(rec.params) == len(run["params"]) - 1


def test_vectorised_and_line_parsers_agree() -> None:
    values = [1.5, float("nan"), float("inf"), float("-inf"), -0.0, 0.1, 1e-300] * 200
    body = "".join(f"{1795714091000 + i} {v!r} {i}\n" for i, v in enumerate(values)).encode()
    fast = _mlflow_metric_files._parse_arrow(body)
    slow = _mlflow_metric_files._parse_slow(body)
    assert fast is not None and fast[3] == slow[3] == []
    assert [_vkey(v) for v in fast[1]] == [_vkey(v) for v in slow[1]] == [_vkey(v) for v in values]
    assert fast[0].tolist() == slow[0].tolist() == list(range(len(values)))
    assert fast[2].tolist() == slow[2].tolist()


def test_mixed_or_bad_lines_take_the_line_parser() -> None:
    good = b"".join(b"%d 0.5 %d\n" % (1795714091000 + i, i) for i in range(400))
    extra = [b"5 2.5\n", b"6 3.5 7 ds d1\n", b"1 x 2\n", b"\n", b"7 8 9\n"]
    parsed = _mlflow_metric_files.parse_metric_bytes(good + b"".join(extra) + b"8 9", final=False)
    assert parsed.bad == [len(good) + 20, len(good) + 26]
    assert parsed.steps.tolist()[-3:] == [0, 7, 9] and len(parsed.steps) == 403
    assert parsed.tail and parsed.consumed == len(good) + sum(map(len, extra))
