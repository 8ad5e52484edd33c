"""Hugging Face Trainer reader against the real-tool corpus (fixtures/hf-trainer) and bad input."""

from __future__ import annotations

import builtins
import io
import json
import math
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from labdeck.runs.readers import hf_trainer
from labdeck.runs.readers.base import ReadResult, RunRecord, SourceRef
from tests_support import detect_walk

READER = hf_trainer.READER
PROJECT = "hf-trainer"
RUNS = ["tiny-bert-cls", "long-run", "no-logs", "killed-run"]


# Helpers ----------------------------------------------------------------------


def _states(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    return json.loads((fixtures_dir / PROJECT / "expected.json").read_text(encoding="utf-8"))["states"]


def _chosen_state(fixtures_dir: Path, run: str) -> tuple[str, dict[str, Any]]:
    """The most complete state of a run folder: its final state, else its furthest checkpoint."""
    states = {p: s for p, s in _states(fixtures_dir).items() if p.split("/")[0] == run}
    final = f"{run}/trainer_state.json"
    if final in states:
        return final, states[final]
    path = max(states, key=lambda p: states[p]["global_step"])
    return path, states[path]


def _walk(root: Path) -> tuple[dict[str, SourceRef], set[str]]:
    return detect_walk(READER, root)


def _source(root: Path, rel: str) -> SourceRef:
    return SourceRef(READER.format, root / rel, rel)


def _only_run(result: ReadResult) -> RunRecord:
    assert len(result.runs) == 1
    return result.runs[0]


def _number(value: Any) -> float | None:
    """A log_history value as the reader should keep it (expected.json spells NaN/±inf as strings)."""
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _expected_series(entries: list[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for entry in entries:
        for key, value in entry.items():
            number = _number(value)
            if key != "step" and number is not None:
                out.setdefault(key, ([], []))
                out[key][0].append(entry["step"])
                out[key][1].append(number)
    return out


def _got_series(run: RunRecord) -> dict[str, tuple[list[int], list[float]]]:
    out = {}
    for key, p in run.points.items():
        assert p.steps.dtype == np.int64 and p.values.dtype == np.float64 and np.isnan(p.walls).all()
        out[key] = (p.steps.tolist(), p.values.tolist())
    return out



def _assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, (steps, values) in want.items():
        assert got[key][0] == steps, key
        assert len(got[key][1]) == len(values), key
        for a, b in zip(got[key][1], values):
            assert (math.isnan(a) and math.isnan(b)) or a == b, key


def _copy(fixtures_dir: Path, run: str, dest: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """A writable copy of a run folder's trainer states only (no pickles needed)."""
    src = fixtures_dir / PROJECT / run
    for path in src.rglob("trainer_state.json"):
        rel = path.relative_to(src)
        if any(str(rel).startswith(s) for s in skip):
            continue
        target = dest / run / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(target.stat().st_mode | stat.S_IWUSR)
    return dest / run


# Fidelity ---------------------------------------------------------------------


def test_one_run_per_output_folder_and_checkpoints_pruned(fixtures_dir: Path) -> None:
    found, visited = _walk(fixtures_dir / PROJECT)
    assert set(found) == set(RUNS)
    assert not any("checkpoint-" in rel for rel in visited)


@pytest.mark.parametrize("run_name", RUNS)
def test_run_matches_expected(fixtures_dir: Path, run_name: str) -> None:
    state_path, want = _chosen_state(fixtures_dir, run_name)
    result = READER.read_on(_source(fixtures_dir / PROJECT, run_name), None)
    run = _only_run(result)
    assert result.complete and not run.warnings
    assert run.source_id == run_name
    # Written long ago: a run short of max_steps stopped there (killed or crashed).
    status = "finished" if want["global_step"] >= want["max_steps"] else "killed"
    times = {k: run.meta.pop(k) for k in ("start_time", "end_time")}
    assert run.meta == {"experiment": "", "name": run_name, "status": status, "path": run_name}
    assert 0 < times["start_time"] <= times["end_time"]
    assert run.replace_series
    _assert_same(_got_series(run), _expected_series(want["log_history"]))

    assert run.tags["hf.state_file"] == state_path.split("/", 1)[1]
    for field in ("best_metric", "best_model_checkpoint", "best_global_step", "global_step", "max_steps"):
        value = want[field]
        if value is None:
            assert f"hf.{field}" not in run.tags
        else:
            assert run.tags[f"hf.{field}"] == str(_number(value) if isinstance(value, float) else value)
    assert run.params["logging_steps"] == str(want["logging_steps"])
    # No TrainingArguments recorded (no TensorBoard run): whether eval_steps and save_steps
    # applied is unknown, so they are left out rather than shown from defaults.
    assert "eval_steps" not in run.params and "save_steps" not in run.params


def test_best_checkpoint_tags(fixtures_dir: Path) -> None:
    _, want = _chosen_state(fixtures_dir, "tiny-bert-cls")
    run = _only_run(READER.read(_source(fixtures_dir / PROJECT, "tiny-bert-cls")))
    assert run.tags["hf.best_model_checkpoint"] == want["best_model_checkpoint"]
    assert run.tags["hf.best_metric"] == repr(float(want["best_metric"]))
    assert run.tags["hf.best_global_step"] == str(want["best_global_step"])
    # Eval rows with NaN and ±inf, and the final summary row, are series too.
    assert math.isnan(run.points["eval_nan metric"].values[0])
    assert np.isposinf(run.points["eval_inf metric"].values).all()
    assert np.isneginf(run.points["eval_neg inf metric"].values).all()
    assert "train_runtime" in run.points and "eval_précision ü" in run.points


def test_pickles_are_never_opened(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = io.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(builtins, "open", spy)
    for run in RUNS:
        READER.read(_source(fixtures_dir / PROJECT, run))
    # The states and the model's config.json (JSON); never training_args.bin or other pickles.
    assert opened and all(p.endswith(("trainer_state.json", "/config.json")) for p in opened)


# Detection -------------------------------------------------------------------


def test_detect_decides_from_names(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert READER.detect(missing, frozenset({"train.py", "config.json", "checkpoints"}), "") is None
    # checkpoint-N folders that hold no trainer state are some other tool's.
    other = tmp_path / "other"
    (other / "checkpoint-100").mkdir(parents=True)
    assert READER.detect(other, frozenset(os.listdir(other)), "other") is None


# Reading on ------------------------------------------------------------------


def test_read_on_appends_only_new_entries(fixtures_dir: Path, tmp_path: Path) -> None:
    run_dir = _copy(fixtures_dir, "killed-run", tmp_path, skip=("checkpoint-20",))
    source = _source(tmp_path, "killed-run")
    first = READER.read_on(source, None)
    assert _only_run(first).tags["hf.global_step"] == "10"

    _copy(fixtures_dir, "killed-run", tmp_path)  # the Trainer saves checkpoint-20
    assert READER.fingerprint(source) != ""
    second = READER.read_on(source, json.loads(json.dumps(first.cursor)))
    run = _only_run(second)
    assert not run.replace_series and run.tags["hf.global_step"] == "20"
    both = _got_series(_only_run(first))
    for key, (steps, values) in _got_series(run).items():
        both[key] = (both[key][0] + steps, both[key][1] + values)
    _, want = _chosen_state(fixtures_dir, "killed-run")
    _assert_same(both, _expected_series(want["log_history"]))

    # A restarted training rewrites history: the series are replaced.
    state_file = run_dir / "checkpoint-20" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    state["log_history"][0]["loss"] = 123.0
    state_file.write_text(json.dumps(state))
    third = _only_run(READER.read_on(source, second.cursor))
    assert third.replace_series and third.points["loss"].values[0] == 123.0


def test_truncated_state_keeps_what_was_read(fixtures_dir: Path, tmp_path: Path) -> None:
    run_dir = _copy(fixtures_dir, "tiny-bert-cls", tmp_path)
    source = _source(tmp_path, "tiny-bert-cls")
    first = READER.read_on(source, None)
    final = run_dir / "trainer_state.json"
    whole = final.read_bytes()
    before = READER.fingerprint(source)

    final.write_bytes(whole[: len(whole) // 2])  # caught mid-write
    assert READER.fingerprint(source) != before
    second = READER.read_on(source, first.cursor)
    run = _only_run(second)
    assert [w.code for w in run.warnings] == ["truncated-file"] and run.warnings[0].transient
    assert "tiny-bert-cls/trainer_state.json" in run.warnings[0].message
    assert not run.points and not run.replace_series and second.cursor == first.cursor

    final.write_bytes(whole)
    third = _only_run(READER.read_on(source, second.cursor))
    assert not third.points and not third.replace_series and not third.warnings


def test_first_read_falls_back_to_a_checkpoint(fixtures_dir: Path, tmp_path: Path) -> None:
    run_dir = _copy(fixtures_dir, "tiny-bert-cls", tmp_path)
    (run_dir / "trainer_state.json").write_bytes(b"\x00garbage{{")
    run = _only_run(READER.read_on(_source(tmp_path, "tiny-bert-cls"), None))
    assert [w.code for w in run.warnings] == ["bad-state-file"]
    assert run.tags["hf.state_file"] == "checkpoint-60/trainer_state.json"
    want = _states(fixtures_dir)["tiny-bert-cls/checkpoint-60/trainer_state.json"]
    _assert_same(_got_series(run), _expected_series(want["log_history"]))


def test_odd_entries(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "trainer_state.json").write_text(
        '{"global_step": 3, "max_steps": 10, "trial_name": "t1", "trial_params": {"lr": 0.1},'
        ' "stateful_callbacks": "odd", "log_history": ['
        '{"loss": 1.0, "step": 1, "note": "text", "flag": true},'
        '{"loss": NaN, "step": 2, "big": 1e400, "huge": 100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000},'
        '{"loss": 3.0},'
        '"not an entry",'
        '{"loss": 4.0, "step": 3.0}]}'
    )
    run = _only_run(READER.read_on(_source(tmp_path, "out"), None))
    assert [w.code for w in run.warnings] == ["bad-log-entry"]
    assert "out/trainer_state.json" in run.warnings[0].message
    got = _got_series(run)
    assert got["loss"][0] == [1, 2, 3] and math.isnan(got["loss"][1][1])
    assert set(got) == {"loss", "big", "huge"} and got["huge"][1] == [math.inf]
    assert run.meta["status"] == "running"  # short of max_steps and written just now
    assert run.tags["hf.trial_name"] == "t1" and run.params["lr"] == "0.1"


def test_unreadable_folder_and_empty_folder(tmp_path: Path) -> None:
    gone = READER.read_on(_source(tmp_path, "gone"), None)
    assert gone.runs == [] and not gone.complete and gone.warnings[0].code == "missing-file"

    (tmp_path / "empty" / "checkpoint-5").mkdir(parents=True)
    run = _only_run(READER.read_on(_source(tmp_path, "empty"), None))
    assert [w.code for w in run.warnings] == ["missing-file"] and not run.points
