"""Lightning CSVLogger reader against the real-tool corpus (fixtures/lightning-csv) and bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labdeck.runs.readers import _hparams_yaml, lightning
from labdeck.runs.readers.base import ReadResult, RunRecord, SourceRef

READER = lightning.READER
PROJECT = "lightning-csv"


# Helpers ----------------------------------------------------------------------


def _expected(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / PROJECT / "expected.json").read_text(encoding="utf-8"))


def _float(v: Any) -> float:
    """expected.json writes NaN/±inf as the strings "NaN", "Infinity", "-Infinity"."""
    return float(v)


def _walk(root: Path) -> dict[str, SourceRef]:
    """What the indexer does: detect in every directory, skip what a detection prunes."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        rel = "" if folder == root else folder.relative_to(root).as_posix()
        det = READER.detect(folder, frozenset(dirnames + filenames), rel)
        if det:
            found.update({s.rel: s for s in det.sources})
            dirnames[:] = [d for d in dirnames if d not in det.prune]
    return found


def _source(root: Path, rel: str) -> SourceRef:
    return SourceRef(READER.format, root / rel, rel)


def _only_run(result: ReadResult) -> RunRecord:
    assert len(result.runs) == 1
    return result.runs[0]


def _points(run: RunRecord, key: str) -> tuple[list[int], list[float]]:
    p = run.points[key]
    assert p.steps.dtype == np.int64 and p.values.dtype == np.float64
    assert np.isnan(p.walls).all()  # the CSV has no wall times
    return p.steps.tolist(), p.values.tolist()


def _same_floats(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(
        (math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, want)
    )


def _flat_hparams(data: dict, prefix: str = "") -> dict[str, str]:
    """The documented mapping: nested mappings joined with '/', values as Python's str()."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat_hparams(value, f"{prefix}{key}/"))
        elif value in ("NaN", "Infinity", "-Infinity"):
            out[f"{prefix}{key}"] = str(float(value))
        else:
            out[f"{prefix}{key}"] = "True" if value is True else str(value)
    return out


def _copy_run(fixtures_dir: Path, rel: str, dest: Path) -> Path:
    """A writable copy of one version folder (the corpus itself is read-only)."""
    target = dest / rel
    shutil.copytree(fixtures_dir / PROJECT / rel, target, copy_function=shutil.copyfile)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def _write_rows(path: Path, columns: list[str], rows: list[dict[str, str]], mode: str = "w") -> None:
    with open(path, mode, newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)  # the csv module's \r\n, as Lightning writes
        if mode == "w":
            writer.writeheader()
        writer.writerows(rows)


# Fidelity: every run, param and point of expected.json -----------------------------


def test_detects_exactly_the_version_folders(fixtures_dir: Path) -> None:
    found = _walk(fixtures_dir / PROJECT)
    assert set(found) == set(_expected(fixtures_dir)["runs"])


@pytest.mark.parametrize(
    "rel",
    [
        "lightning_logs/version_0",
        "lightning_logs/version_1",
        "lightning_logs/version_2",
        "lightning_logs/version_3",
        "nightly run ü/version_0",
    ],
)
def test_run_matches_expected(fixtures_dir: Path, rel: str) -> None:
    want = _expected(fixtures_dir)["runs"][rel]
    result = READER.read_on(_source(fixtures_dir / PROJECT, rel), None)
    run = _only_run(result)
    assert result.complete and not run.warnings and not result.warnings

    assert run.source_id == rel
    times = {k: run.meta.pop(k) for k in ("start_time", "end_time")}
    assert run.meta == {"experiment": rel.split("/")[-2], "name": rel, "status": "finished", "path": rel}
    assert 0 < times["start_time"] <= times["end_time"]

    assert run.replace_params
    assert run.params == _flat_hparams(want["hparams"] or {})

    series = want["series"]
    expected_keys = set(series)
    csv_info = want["metrics_csv"]
    if csv_info and "epoch" in csv_info["columns"]:
        expected_keys.add("epoch")  # also exposed: what Lightning logged on each row
    assert set(run.points) == expected_keys
    for key, points in series.items():
        steps, values = _points(run, key)
        assert steps == [p["step"] for p in points], key
        assert _same_floats(values, [_float(p["value"]) for p in points]), key
    if "epoch" in expected_keys:
        _assert_epoch_series(run, csv_info)


def _assert_epoch_series(run: RunRecord, csv_info: dict) -> None:
    cols = csv_info["columns"]
    rows = [r for r in csv_info["rows"] if r[cols.index("epoch")] != ""]
    steps, values = _points(run, "epoch")
    assert steps == [int(r[cols.index("step")]) for r in rows]
    assert values == [float(r[cols.index("epoch")]) for r in rows]


def test_nan_and_infinities_kept(fixtures_dir: Path) -> None:
    run = _only_run(READER.read(_source(fixtures_dir / PROJECT, "lightning_logs/version_2")))
    assert np.isnan(run.points["nan_metric"].values).any()
    assert np.isposinf(run.points["pos_inf"].values).all()
    assert np.isneginf(run.points["neg_inf"].values).all()
    assert run.params["nan_hparam"] == "nan" and run.params["inf_hparam"] == "inf"
    assert run.params["none"] == "None"


# Detection ------------------------------------------------------------------------


def test_detect_decides_from_names_without_touching_disk(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    assert READER.detect(missing, frozenset({"train.py", "data.csv", "events.out.tfevents.1"}), "x") is None


def test_detect_leaves_tensorboard_logger_folders_and_foreign_csvs(tmp_path: Path) -> None:
    tb = tmp_path / "tb"
    tb.mkdir()
    (tb / "hparams.yaml").write_text("lr: 0.1\n")
    (tb / "events.out.tfevents.123.host").write_bytes(b"")
    assert READER.detect(tb, frozenset(os.listdir(tb)), "tb") is None

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metrics.csv").write_text("epoch,loss\n0,1.0\n")
    assert READER.detect(foreign, frozenset(os.listdir(foreign)), "foreign") is None


def test_detect_prunes_checkpoint_folder(tmp_path: Path) -> None:
    run = tmp_path / "v0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,loss,step\r\n0,1.0,0\r\n")
    det = READER.detect(run, frozenset(os.listdir(run)), "v0")
    assert det and det.prune == frozenset({"checkpoints"})
    assert [s.rel for s in det.sources] == ["v0"]


# Reading on ------------------------------------------------------------------------


def _version_1_rows(fixtures_dir: Path) -> tuple[list[str], list[dict[str, str]], int]:
    """version_1's columns and rows, and how many rows come before the val columns appear."""
    info = _expected(fixtures_dir)["runs"]["lightning_logs/version_1"]["metrics_csv"]
    cols = info["columns"]
    rows = [dict(zip(cols, r)) for r in info["rows"]]
    first_val = next(i for i, r in enumerate(rows) if r["val loss ü"] != "")
    return cols, rows, first_val


def test_read_on_across_a_header_rewrite_and_a_half_line(fixtures_dir: Path, tmp_path: Path) -> None:
    run_dir = _copy_run(fixtures_dir, "lightning_logs/version_1", tmp_path)
    path = run_dir / "metrics.csv"
    full = path.read_bytes()
    cols, rows, first_val = _version_1_rows(fixtures_dir)
    narrow = [c for c in cols if any(r[c] for r in rows[:first_val])]
    assert len(narrow) < len(cols)  # the fixture does have a header rewrite
    head = [{c: r[c] for c in narrow} for r in rows[:first_val]]
    half = first_val // 2
    source = _source(tmp_path, "lightning_logs/version_1")

    _write_rows(path, narrow, head[:half])
    first = READER.read_on(source, None)
    got = {k: _points(_only_run(first), k) for k in _only_run(first).points}

    # More rows with the same header, and a row caught mid-write.
    _write_rows(path, narrow, head[half:], mode="a")
    with open(path, "a", newline="", encoding="utf-8") as f:
        f.write("0,0.00625,99")
    second = READER.read_on(source, json.loads(json.dumps(first.cursor)))
    run = _only_run(second)
    assert not run.replace_series and not second.complete
    assert [w.code for w in run.warnings] == ["truncated-line"] and run.warnings[0].transient
    assert "metrics.csv" in run.warnings[0].message
    for key, points in run.points.items():
        steps, values = _points(run, key)
        got.setdefault(key, ([], []))
        got[key] = (got[key][0] + steps, got[key][1] + values)
    want_prefix = _series_from_rows(rows[:first_val], narrow)
    assert got == want_prefix

    # Lightning rewrites the file with the wider header: everything is read again.
    path.write_bytes(full)
    third = READER.read_on(source, second.cursor)
    run = _only_run(third)
    assert run.replace_series and not run.warnings
    series = _expected(fixtures_dir)["runs"]["lightning_logs/version_1"]["series"]
    for key, points in series.items():
        assert _points(run, key) == ([p["step"] for p in points], [float(p["value"]) for p in points])

    # Nothing new: nothing returned.
    fourth = READER.read_on(source, third.cursor)
    assert not _only_run(fourth).points and not _only_run(fourth).replace_series


def _series_from_rows(rows: list[dict[str, str]], columns: list[str]) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for row in rows:
        for c in columns:
            if c != "step" and row[c] != "":
                out.setdefault(c, ([], []))
                out[c][0].append(int(row["step"]))
                out[c][1].append(float(row[c]))
    return out


def test_half_line_is_read_once_complete(tmp_path: Path) -> None:
    run_dir = tmp_path / "exp" / "version_0"
    run_dir.mkdir(parents=True)
    path = run_dir / "metrics.csv"
    path.write_bytes(b"epoch,loss,step\r\n0,1.5,0\r\n0,1.2")
    source = _source(tmp_path, "exp/version_0")
    first = READER.read_on(source, None)
    assert _points(_only_run(first), "loss") == ([0], [1.5])
    with open(path, "ab") as f:
        f.write(b"5,1\r\n")
    second = _only_run(READER.read_on(source, first.cursor))
    assert _points(second, "loss") == ([1], [1.25]) and not second.warnings


def test_shrunk_file_is_read_again(tmp_path: Path) -> None:
    run_dir = tmp_path / "v"
    run_dir.mkdir()
    path = run_dir / "metrics.csv"
    path.write_bytes(b"loss,step\r\n1.0,0\r\n2.0,1\r\n3.0,2\r\n")
    source = _source(tmp_path, "v")
    first = READER.read_on(source, None)
    path.write_bytes(b"loss,step\r\n9.0,0\r\n")  # same header, new content
    run = _only_run(READER.read_on(source, first.cursor))
    assert run.replace_series and _points(run, "loss") == ([0], [9.0])


# Bad input -------------------------------------------------------------------------


def test_bad_rows_and_cells_become_warnings(tmp_path: Path) -> None:
    run_dir = tmp_path / "v"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_bytes(
        b"loss,step,val\r\n"
        b"1.0,0,\r\n"
        b"garbage\r\n"  # wrong width
        b"\xff\xfe,1,nan\r\n"  # invalid UTF-8 in a cell
        b"2.0,x,3\r\n"  # no step
        b"inf,3,-inf\r\n"
    )
    run = _only_run(READER.read_on(_source(tmp_path, "v"), None))
    codes = {w.code for w in run.warnings}
    assert {"bad-csv-row", "bad-metric-value", "bad-step"} <= codes
    assert all("v/metrics.csv" in w.message for w in run.warnings)
    assert _points(run, "loss") == ([0, 3], [1.0, math.inf])
    steps, values = _points(run, "val")
    assert steps == [1, 3] and math.isnan(values[0]) and values[1] == -math.inf


def test_rows_of_the_wrong_width_are_left_out(tmp_path: Path) -> None:
    run_dir = tmp_path / "v"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_bytes(b"loss,step\r\n1.0,0\r\n1,2,3\r\n\r\n2.0,1\r\n" + b"x\r\n" * 9)
    run = _only_run(READER.read_on(_source(tmp_path, "v"), None))
    assert _points(run, "loss") == ([0, 1], [1.0, 2.0])
    assert [w.code for w in run.warnings] == ["bad-csv-row"] * (lightning.MAX_LINE_WARNINGS + 1)
    assert "v/metrics.csv" in run.warnings[0].message and "'1,2,3'" in run.warnings[0].message


def test_unreadable_and_vanished_files_become_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "v"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_bytes(b"loss,step\r\n1.0,0\r\n")
    (run_dir / "hparams.yaml").write_text("lr: 0.1\n")
    source = _source(tmp_path, "v")

    real_open = open

    def deny(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("metrics.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(lightning, "open", deny, raising=False)
    run = _only_run(READER.read_on(source, None))
    assert [w.code for w in run.warnings] == ["permission-denied"] and run.params == {"lr": "0.1"}
    monkeypatch.undo()

    first = READER.read_on(source, None)
    (run_dir / "metrics.csv").unlink()
    run = _only_run(READER.read_on(source, first.cursor))
    assert [w.code for w in run.warnings] == ["missing-file"]
    assert not run.replace_series and not run.points

    shutil.rmtree(run_dir)
    gone = READER.read_on(source, first.cursor)
    assert gone.runs == [] and not gone.complete and gone.warnings[0].code == "missing-file"


def test_python_yaml_tags_are_read_as_data_and_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "v"
    run_dir.mkdir()
    (run_dir / "hparams.yaml").write_text(
        f'cmd: !!python/object/apply:os.system ["touch {marker}"]\n'
        "args: !!python/object:argparse.Namespace\n"
        "  lr: 0.1\n"
        "  layers: !!python/tuple [1, 2]\n"
        "opt: !!python/name:torch.optim.Adam ''\n"
        "mod: !!python/module:os ''\n"
        "new: !!python/object/new:collections.OrderedDict [[[a, 1]]]\n"
        "local: !custom 5\n"
        "big: !!python/int 7\n"
        "flag: !!python/bool true\n"
        "nothing: !!python/none ''\n",
        encoding="utf-8",
    )
    run = _only_run(READER.read_on(_source(tmp_path, "v"), None))
    assert not marker.exists() and calls == []
    assert run.params == {
        "cmd": f"os.system('touch {marker}')",
        "args/lr": "0.1",
        "args/layers": "(1, 2)",
        "opt": "torch.optim.Adam",
        "mod": "os",
        "new": "collections.OrderedDict([['a', 1]])",
        "local": "5",
        "big": "7",
        "flag": "True",
        "nothing": "None",
    }
    assert all(isinstance(v, str) for v in run.params.values())


def test_bad_and_explosive_yaml(tmp_path: Path) -> None:
    run_dir = tmp_path / "v"
    run_dir.mkdir()
    path = run_dir / "hparams.yaml"
    path.write_text("lr: [0.1\n  nope: {\n")
    run = _only_run(READER.read_on(_source(tmp_path, "v"), None))
    assert [w.code for w in run.warnings] == ["bad-hparams"] and "v/hparams.yaml" in run.warnings[0].message
    assert not run.replace_params

    # A "billion laughs": a few hundred bytes that expand to 10^9 items.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    lines += ["deep: " + "{k: " * 100 + "1" + "}" * 100]
    path.write_text("\n".join(lines) + "\n")
    run = _only_run(READER.read_on(_source(tmp_path, "v"), None))
    assert max(len(v) for v in run.params.values()) <= _hparams_yaml.MAX_VALUE_CHARS + 100
    assert "bad-hparams" in {w.code for w in run.warnings}  # the 100-deep mapping was cut


def test_a_step_past_64_bits_is_left_out_with_a_warning(tmp_path: Path) -> None:
    import warnings

    run_dir = tmp_path / "v"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("loss,step\n1.0,0\n2.0,1e30\n3.0,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's cast warning reached the CLI's output
        run = _only_run(READER.read_on(_source(tmp_path, "v"), None))
    assert _points(run, "loss") == ([0, 2], [1.0, 3.0])
    assert any(w.code == "bad-step" and "64 bits" in w.message for w in run.warnings)
