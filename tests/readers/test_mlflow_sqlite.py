"""MLflow SQLite store reader against the real-tool corpus (fixtures/mlflow-sqlite), bad input."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from labdeck.runs.readers import _mlflow_sqlite_store, mlflow_sqlite
from labdeck.runs.readers._mlflow_sqlite_series import load_points
from labdeck.runs.readers.base import STATUSES, ReadResult, RunRecord, SourceRef
from tests_support import detect_walk

READER = mlflow_sqlite.READER
PROJECT = "mlflow-sqlite"
DBL_MAX = 1.7976931348623157e308  # what MLflow's SQL store keeps for ±infinity
INSERT_METRIC = (
    "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)"
)


# Helpers ----------------------------------------------------------------------


def _expected(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / PROJECT / "expected.json").read_text(encoding="utf-8"))


def _n_runs(fixtures_dir: Path) -> int:
    return len(_expected(fixtures_dir)["runs"])


def _shown(v: Any) -> float:
    """A value of expected.json as labdeck shows it: MLflow's ±DBL_MAX is ±infinity."""
    x = float(v)  # "NaN", "Infinity", "-Infinity" parse too
    return math.copysign(math.inf, x) if abs(x) == DBL_MAX else x


def _token(x: float) -> Any:
    return "nan" if math.isnan(x) else x


def _source(root: Path) -> SourceRef:
    return SourceRef(READER.format, root / "mlflow.db", "mlflow.db")


def _walk(root: Path) -> tuple[dict[str, SourceRef], set[str]]:
    return detect_walk(READER, root)


def _copy(fixtures_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(fixtures_dir / PROJECT, root)
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
    return root


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            st = os.stat(os.path.join(dirpath, f))
            out[os.path.relpath(os.path.join(dirpath, f), root)] = (st.st_size, st.st_mtime_ns)
    return out


def _by_id(result: ReadResult) -> dict[str, RunRecord]:
    runs = {r.source_id: r for r in result.runs}
    assert len(runs) == len(result.runs)
    return runs


def _points(root: Path, run_id: str, keys: list[str] | None = None) -> dict:
    """A run's points as labdeck serves them on demand from the store."""
    return load_points(root / "mlflow.db", [run_id], keys)[run_id]


def _roundtrip(cursor: dict) -> dict:
    return json.loads(json.dumps(cursor))


@pytest.fixture(scope="module")
def full(fixtures_dir: Path) -> ReadResult:
    return READER.read_on(_source(fixtures_dir / PROJECT), None)


# Detection --------------------------------------------------------------------


def test_detect_claims_the_store_and_prunes_the_artifact_folder(fixtures_dir: Path) -> None:
    found, visited = _walk(fixtures_dir / PROJECT)
    assert list(found) == ["mlflow.db"]
    assert found["mlflow.db"].path == fixtures_dir / PROJECT / "mlflow.db"
    assert not any(v.startswith("mlruns") for v in visited)  # artifacts only: pruned


def test_detect_leaves_a_file_store_mlruns_to_its_reader(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    (root / "mlruns" / "1" / "meta.yaml").write_text("name: x\n")
    det = READER.detect(root, frozenset(os.listdir(root)), "")
    assert det is not None and "mlruns" not in det.prune
    assert READER.detect(root / "mlruns", frozenset(os.listdir(root / "mlruns")), "mlruns") is None


def test_foreign_and_garbage_mlflow_db_are_not_claimed_and_do_not_raise(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "mlflow.db").write_bytes(os.urandom(4096))
    assert READER.detect(garbage, frozenset({"mlflow.db"}), "") is None
    result = READER.read_on(_source(garbage), None)
    assert result.runs == [] and not result.complete
    assert [w.code for w in result.warnings] == ["not-sqlite"]
    assert "mlflow.db" in result.warnings[0].message

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "mlflow.db") as con:
        con.execute("CREATE TABLE notes (x TEXT)")
    con.close()
    assert READER.detect(foreign, frozenset({"mlflow.db"}), "") is None
    assert [w.code for w in READER.read_on(_source(foreign), None).warnings] == ["not-mlflow-store"]


# Full read against expected.json ---------------------------------------------------


def test_every_run_matches_expected(fixtures_dir: Path, full: ReadResult) -> None:
    exp = _expected(fixtures_dir)
    experiments = {e["experiment_id"]: e for e in exp["experiments"]}
    runs = _by_id(full)
    assert full.complete and full.warnings == []
    assert set(runs) == {r["run_id"] for r in exp["runs"]}
    for e in exp["runs"]:
        got = runs[e["run_id"]]
        experiment = experiments[e["experiment_id"]]
        deleted = e["lifecycle_stage"] == "deleted" or experiment["lifecycle_stage"] == "deleted"
        assert got.meta == {
            "experiment": experiment["name"],
            "name": e["run_name"],
            "status": e["status"].lower(),
            "deleted": deleted,
            "parent_source_id": e["parent_run_id"],
            "start_time": e["start_time"],
            "end_time": e["end_time"],
            "path": "mlflow.db",
            "series_source": "mlflow_sqlite",
        }, e["run_name"]
        assert got.meta["status"] in STATUSES
        assert got.params == e["params"] and got.tags == e["tags"], e["run_name"]
        assert got.replace_params and got.replace_tags and got.replace_series
        assert got.warnings == []
    # The corpus holds what the mapping must cover.
    assert any(r["lifecycle_stage"] == "deleted" for r in exp["runs"])
    assert any(e["lifecycle_stage"] == "deleted" for e in exp["experiments"])
    assert any(r["parent_run_id"] is not None for r in exp["runs"])


def test_every_metric_point_matches_expected(fixtures_dir: Path, full: ReadResult) -> None:
    exp = _expected(fixtures_dir)
    runs = _by_id(full)
    root = fixtures_dir / PROJECT
    clamped = nans = 0
    for e in exp["runs"]:
        got = _points(root, e["run_id"])
        assert set(got) == set(e["metric_history"]) == set(runs[e["run_id"]].summaries), e["run_name"]
        assert runs[e["run_id"]].points == {}  # nothing copied: the store serves them
        for key, history in e["metric_history"].items():
            p = got[key]
            assert p.steps.dtype == np.int64 and p.values.dtype == np.float64
            want = Counter(
                (h["step"], float(h["timestamp"]), _token(_shown(h["value"]))) for h in history
            )
            have = Counter(zip(p.steps.tolist(), p.walls.tolist(), map(_token, p.values.tolist())))
            assert have == want, (e["run_name"], key)
            clamped += sum(abs(float(h["value"])) == DBL_MAX for h in history)
            nans += sum(h["value"] == "NaN" for h in history)
    assert clamped >= 2 and nans >= 2  # the ±DBL_MAX -> ±inf and is_nan mappings were exercised
    inf_run = next(r for r in exp["runs"] if "pos_inf_only" in r["metric_history"])
    assert _points(root, inf_run["run_id"])["pos_inf_only"].values.tolist() == [math.inf]
    assert _points(root, inf_run["run_id"], ["neg_inf_only"])["neg_inf_only"].values.tolist() == [-math.inf]


def test_summaries_match_the_history_and_mlflows_latest_value(fixtures_dir: Path, full: ReadResult) -> None:
    runs = _by_id(full)
    checked = 0
    for e in _expected(fixtures_dir)["runs"]:
        for key, history in e["metric_history"].items():
            s = runs[e["run_id"]].summaries[key]
            values = [_shown(h["value"]) for h in history]
            numbers = [v for v in values if not math.isnan(v)]
            assert s["count"] == len(history), (e["run_name"], key)
            assert s["min"] == (min(numbers) if numbers else None)
            assert s["max"] == (max(numbers) if numbers else None)
            top = max(history, key=lambda h: (h["step"], h["timestamp"]))
            assert (s["last_step"], s["last_wall"]) == (top["step"], float(top["timestamp"]))
            latest = _shown(e["latest_metrics"][key])
            assert s["last"] == (None if math.isnan(latest) else latest), (e["run_name"], key)
            checked += 1
    assert checked >= 20
    assert full.points_in_source == sum(
        len(h) for e in _expected(fixtures_dir)["runs"] for h in e["metric_history"].values())


def test_points_keep_the_order_mlflow_stored_them(fixtures_dir: Path, full: ReadResult) -> None:
    root = fixtures_dir / PROJECT
    con = sqlite3.connect(f"file:{root / 'mlflow.db'}?mode=ro", uri=True)
    try:
        for run in full.runs:
            for key, p in _points(root, run.source_id).items():
                rows = con.execute(
                    "SELECT step, timestamp FROM metrics WHERE run_uuid = ? AND key = ?"
                    " ORDER BY rowid",
                    (run.source_id, key),
                ).fetchall()
                stored = [(s, float(t)) for s, t in rows]
                assert list(zip(p.steps.tolist(), p.walls.tolist())) == stored
    finally:
        con.close()


def test_inputs_and_logged_models_match_expected(fixtures_dir: Path, full: ReadResult) -> None:
    exp = _expected(fixtures_dir)
    project = fixtures_dir / PROJECT
    models = {m["model_id"]: m for m in exp["logged_models"]}
    runs = _by_id(full)
    for e in exp["runs"]:
        got = runs[e["run_id"]]
        want_inputs = [
            {**d, "context": d["tags"].get("mlflow.data.context")}
            for d in e["inputs"]["dataset_inputs"]
        ]
        assert got.inputs == want_inputs, e["run_name"]
        outputs = e["outputs"]["model_outputs"]
        assert [(m["model_id"], m["step"]) for m in got.models] == [
            (o["model_id"], o["step"]) for o in outputs
        ]
        for m in got.models:
            want = models[m["model_id"]]
            location = want["artifact_location"].replace(exp["generated_in"], str(project), 1)
            assert m == {
                "model_id": want["model_id"], "name": want["name"], "artifact_path": location,
                "step": m["step"], "status": want["status"], "model_type": want["model_type"],
                "created": want["creation_timestamp"], "tags": want["tags"],
                "params": want["params"],
                "metrics": [{k: v for k, v in x.items() if k != "run_id"} for x in want["metrics"]],
            }
            assert Path(location, "MLmodel").is_file()
            assert want["source_run_id"] == e["run_id"]
    assert any(r.inputs for r in full.runs) and any(r.models for r in full.runs)


def test_registered_models_match_expected(fixtures_dir: Path, full: ReadResult) -> None:
    exp = _expected(fixtures_dir)
    want = [
        {
            "name": m["name"], "description": m["description"], "tags": m["tags"],
            "aliases": m["aliases"], "created": m["creation_timestamp"],
            "versions": [
                {"version": v["version"], "source": v["source"], "run_source_id": v["run_id"],
                 "model_id": v["model_id"], "status": v["status"], "stage": v["current_stage"],
                 "aliases": v["aliases"], "tags": v["tags"], "description": v["description"],
                 "created": v["creation_timestamp"]}
                for v in m["versions"]
            ],
        }
        for m in exp["registered_models"]
    ]
    assert full.registered_models == want
    assert want[0]["aliases"] == {"champion": "1"}


def test_artifact_dirs_resolve_under_the_moved_project(
    fixtures_dir: Path, full: ReadResult
) -> None:
    exp = _expected(fixtures_dir)
    project = fixtures_dir / PROJECT
    assert not Path(exp["generated_in"]).exists()  # the recorded paths point elsewhere
    runs = _by_id(full)
    for e in exp["runs"]:
        art = runs[e["run_id"]].artifact_dir
        assert art == e["artifact_uri"].replace(exp["generated_in"], str(project), 1)
        for f in e["artifacts"] or []:
            assert os.path.getsize(os.path.join(art, f["path"])) == f["file_size"]
    assert any(e["artifacts"] for e in exp["runs"])


# Read-only on the source -------------------------------------------------------------


def test_reading_changes_nothing_in_the_project(fixtures_dir: Path, tmp_path: Path) -> None:
    root = _copy(fixtures_dir, tmp_path)
    before = _listing(root)
    _walk(root)
    src = _source(root)
    READER.fingerprint(src)
    result = READER.read_on(src, None)
    READER.read_on(src, _roundtrip(result.cursor))
    assert len(result.runs) == _n_runs(fixtures_dir)
    assert _listing(root) == before


def _to_wal(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    return con


def test_wal_database_without_wal_file_is_read_without_creating_one(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    _to_wal(root / "mlflow.db").close()  # the last writer leaves: -wal and -shm go away
    before = _listing(root)
    assert "mlflow.db-wal" not in before
    assert READER.detect(root, frozenset(os.listdir(root)), "") is not None
    result = READER.read_on(_source(root), None)
    assert len(result.runs) == _n_runs(fixtures_dir) and result.warnings == []
    assert _listing(root) == before


def test_wal_database_with_a_live_writer_sees_its_commits(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    writer = _to_wal(root / "mlflow.db")
    try:
        writer.execute("UPDATE runs SET name = 'renamed in wal' WHERE name = 'empty run'")
        writer.commit()
        names = set(os.listdir(root))
        db_state = _listing(root)["mlflow.db"]
        assert "mlflow.db-wal" in names
        result = READER.read_on(_source(root), None)
        assert "renamed in wal" in {r.meta["name"] for r in result.runs}
        assert set(os.listdir(root)) == names and _listing(root)["mlflow.db"] == db_state
    finally:
        writer.close()


# Reading on ---------------------------------------------------------------------------


def _running_id(fixtures_dir: Path) -> str:
    return next(r["run_id"] for r in _expected(fixtures_dir)["runs"] if r["status"] == "RUNNING")


def test_read_on_returns_exactly_the_new_data(fixtures_dir: Path, tmp_path: Path) -> None:
    root = _copy(fixtures_dir, tmp_path)
    src = _source(root)
    first = READER.read_on(src, None)
    fp = READER.fingerprint(src)
    running = _running_id(fixtures_dir)
    parent = next(r.source_id for r in first.runs if r.meta["name"] == "hyperparameter-sweep")
    new_id = uuid.uuid4().hex
    t0 = 1_900_000_000_000
    with sqlite3.connect(root / "mlflow.db") as con:  # as MLflow's store writes them
        con.executemany(
            INSERT_METRIC,
            [("loss", 0.25, t0, running, 3, 0), ("loss", 0.0, t0 + 1, running, 4, 1),
             ("loss", DBL_MAX, t0 + 2, running, 5, 0)],
        )
        con.execute(
            "UPDATE runs SET status = 'FINISHED', end_time = ? WHERE run_uuid = ?",
            (t0 + 3, running),
        )
        con.execute(
            "INSERT INTO runs (run_uuid, name, source_type, user_id, status, start_time, end_time,"
            " lifecycle_stage, artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (new_id, "late trial", "LOCAL", "root", "RUNNING", t0, None, "active",
             f"/elsewhere/mlruns/1/{new_id}/artifacts", 1),
        )
        con.executemany(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)",
            [("mlflow.runName", "late trial", new_id), ("mlflow.parentRunId", parent, new_id)],
        )
        con.execute("INSERT INTO params (key, value, run_uuid) VALUES ('lr', '0.1', ?)", (new_id,))
        con.executemany(
            INSERT_METRIC,
            [("acc", 0.5, t0 + 10, new_id, 0, 0), ("val loss ü", -DBL_MAX, t0 + 11, new_id, 0, 0),
             ("acc", 0.6, t0 + 12, new_id, 1, 0)],
        )
    con.close()
    assert READER.fingerprint(src) != fp

    second = READER.read_on(src, _roundtrip(first.cursor))
    assert not second.complete and second.warnings == [] and second.registered_models is None
    runs = _by_id(second)
    assert set(runs) == {running, new_id}
    old = runs[running]
    assert old.meta["status"] == "finished" and old.meta["end_time"] == t0 + 3
    assert not old.replace_series and old.points == {}
    assert old.meta["series_source"] == "mlflow_sqlite" and second.points_in_source == 6
    # Summaries of the three new rows only: the index folds them into what it holds.
    assert old.fold_summaries and old.summaries == {"loss": {
        "last": math.inf, "min": 0.25, "max": math.inf, "count": 3, "last_step": 5, "last_wall": t0 + 2.0}}
    loss = _points(root, running)["loss"]
    assert loss.steps.tolist()[-3:] == [3, 4, 5] and loss.walls.tolist()[-3:] == [t0, t0 + 1.0, t0 + 2.0]
    assert loss.values[-3] == 0.25 and math.isnan(loss.values[-2]) and loss.values[-1] == math.inf
    new = runs[new_id]
    assert new.meta == {"experiment": "mnist-baseline", "name": "late trial", "status": "running",
                        "deleted": False, "parent_source_id": parent, "start_time": t0,
                        "end_time": None, "path": "mlflow.db", "series_source": "mlflow_sqlite"}
    assert new.params == {"lr": "0.1"} and new.tags == {"mlflow.runName": "late trial",
                                                        "mlflow.parentRunId": parent}
    assert new.summaries["acc"]["count"] == 2 and new.summaries["acc"]["last"] == 0.6
    acc = _points(root, new_id)["acc"]
    assert acc.steps.tolist() == [0, 1] and acc.values.tolist() == [0.5, 0.6]
    assert _points(root, new_id)["val loss ü"].values.tolist() == [-math.inf]
    assert new.artifact_dir == str(root / "mlruns" / "1" / new_id / "artifacts")

    third = READER.read_on(src, _roundtrip(second.cursor))
    assert third.runs == [] and third.registered_models is None and not third.complete


def test_read_on_picks_up_tag_experiment_model_and_registry_changes(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    src = _source(root)
    first = READER.read_on(src, None)
    target = next(r for r in first.runs if r.meta["name"] == "logged once")
    producer = next(r for r in first.runs if r.models)
    sweep = {r.source_id for r in first.runs if r.meta["experiment"] == "lr sweep ünïcode ✓"}
    assert sweep
    assert not any(r.meta["deleted"] for r in first.runs if r.source_id in sweep)
    with sqlite3.connect(root / "mlflow.db") as con:
        con.execute(
            "INSERT INTO tags (key, value, run_uuid) VALUES ('reviewed', 'yes', ?)",
            (target.source_id,),
        )
        con.execute(
            "INSERT INTO registered_model_aliases (alias, version, name)"
            " VALUES ('next', 2, 'mnist-classifier')"
        )
        # Deleting an experiment leaves its runs' rows alone: they are deleted all the same.
        con.execute(
            "UPDATE experiments SET lifecycle_stage = 'deleted' WHERE name = 'lr sweep ünïcode ✓'"
        )
        con.execute("UPDATE logged_models SET lifecycle_stage = 'deleted' WHERE model_id = ?",
                    (producer.models[0]["model_id"],))
    con.close()
    second = READER.read_on(src, _roundtrip(first.cursor))
    runs = _by_id(second)
    assert set(runs) == {target.source_id, producer.source_id} | sweep
    got = runs[target.source_id]
    assert got.tags == {**target.tags, "reviewed": "yes"} and got.replace_tags and got.summaries is None
    assert all(runs[rid].meta["deleted"] for rid in sweep)
    assert runs[producer.source_id].models == []  # MLflow hides deleted logged models
    assert second.registered_models[0]["aliases"] == {"champion": "1", "next": "2"}
    assert second.registered_models[0]["versions"][1]["aliases"] == ["next"]


def test_a_vanished_run_or_renumbered_rows_force_a_full_read(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    src = _source(root)
    first = READER.read_on(src, None)
    gone = next(r.source_id for r in first.runs if r.meta["name"] == "mistake-0")
    with sqlite3.connect(root / "mlflow.db") as con:  # what `mlflow gc` does
        for table in ("metrics", "latest_metrics", "params", "tags"):
            con.execute(f"DELETE FROM {table} WHERE run_uuid = ?", (gone,))
        con.execute("DELETE FROM runs WHERE run_uuid = ?", (gone,))
    con.close()
    second = READER.read_on(src, _roundtrip(first.cursor))
    assert second.complete and gone not in _by_id(second)
    assert len(second.runs) == _n_runs(fixtures_dir) - 1
    assert all(r.replace_series for r in second.runs)

    # The last metric row replaced by another one under the same rowid: the cursor's tail differs.
    with sqlite3.connect(root / "mlflow.db") as con:
        last = con.execute("SELECT max(rowid) FROM metrics").fetchone()[0]
        row = con.execute("SELECT run_uuid FROM metrics WHERE rowid = ?", (last,)).fetchone()
        con.execute("DELETE FROM metrics WHERE rowid = ?", (last,))
        con.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                    " VALUES ('other', 1.0, 1, ?, 0, 0)", row)
        assert con.execute("SELECT max(rowid) FROM metrics").fetchone()[0] == last
    con.close()
    third = READER.read_on(src, _roundtrip(second.cursor))
    assert third.complete and len(third.runs) == _n_runs(fixtures_dir) - 1


# Bad input ----------------------------------------------------------------------------


def test_a_metric_row_without_a_number_is_a_warning(fixtures_dir: Path, tmp_path: Path) -> None:
    root = _copy(fixtures_dir, tmp_path)
    running = _running_id(fixtures_dir)
    with sqlite3.connect(root / "mlflow.db") as con:
        con.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                    " VALUES ('loss', 'not a number', 5, ?, 9, 0)", (running,))
    con.close()
    runs = _by_id(READER.read_on(_source(root), None))
    got = runs[running]
    assert [w.code for w in got.warnings] == ["bad-metric-value"]
    assert running in got.warnings[0].message and "mlflow.db" in got.warnings[0].message
    assert _points(root, running)["loss"].steps.tolist() == [0, 1, 2]  # the good rows are kept
    assert _points(root, running, ["loss"])["loss"].steps.tolist() == [0, 1, 2]
    assert got.summaries["loss"]["count"] == 3


def test_a_truncated_database_is_a_warning_and_keeps_the_cursor(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "cut"
    root.mkdir()
    data = (fixtures_dir / PROJECT / "mlflow.db").read_bytes()
    (root / "mlflow.db").write_bytes(data[: len(data) // 3])
    assert READER.detect(root, frozenset({"mlflow.db"}), "") is not None  # claimed, to show why
    kept = {"v": 1, "rowid": 7, "tail": None, "runs": {}, "registry": ""}
    result = READER.read_on(_source(root), kept)
    assert result.runs == [] and not result.complete and result.cursor == kept
    assert [w.code for w in result.warnings] == ["corrupt-db"]
    assert "mlflow.db" in result.warnings[0].message and result.warnings[0].path == "mlflow.db"


def test_a_damaged_metrics_page_costs_only_the_rows_it_holds(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    db = root / "mlflow.db"
    with sqlite3.connect(db) as con:
        try:
            pages = [p for (p,) in con.execute(
                "SELECT pageno FROM dbstat WHERE name = 'metrics' AND pagetype = 'leaf'"
                " ORDER BY pageno")]
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table to find a metrics page")
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    before = db.read_bytes()
    with open(db, "r+b") as fh:  # a middle leaf of the metrics table: garbage
        fh.seek((pages[len(pages) // 2] - 1) * page_size)
        fh.write(b"\xff" * page_size)
    result = READER.read_on(_source(root), None)
    exp = {r["run_id"]: r for r in _expected(fixtures_dir)["runs"]}
    # Every run is still there; the pass is not complete (so nothing is marked gone) and says
    # what the damage cost; the source file itself is never written.
    assert len(result.runs) == _n_runs(fixtures_dir) and not result.complete
    (warning,) = result.warnings
    assert warning.code == "corrupt-db" and "lost" in warning.message and "metrics" in warning.message
    counts = {r.source_id: {k: s["count"] for k, s in (r.summaries or {}).items()} for r in result.runs}
    full = {rid: {k: len(h) for k, h in e["metric_history"].items()} for rid, e in exp.items()}
    hurt = [rid for rid in counts if counts[rid] != full[rid]]
    assert hurt and len(hurt) < len(counts)  # one page holds the points of few runs
    for rid in hurt:  # a damaged run keeps every point outside the damaged page
        assert all(counts[rid].get(k, 0) <= n for k, n in full[rid].items())
        assert sum(counts[rid].values()) > 0
    assert sum(sum(c.values()) for c in counts.values()) >= sum(sum(c.values()) for c in full.values()) - page_size
    assert len(db.read_bytes()) == len(before)


def test_a_locked_store_is_a_transient_warning_and_keeps_the_cursor(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy(fixtures_dir, tmp_path)
    src = _source(root)
    cursor = _roundtrip(READER.read_on(src, None).cursor)
    monkeypatch.setattr(_mlflow_sqlite_store, "BUSY_TIMEOUT_S", 0.05)
    writer = sqlite3.connect(root / "mlflow.db", isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # a rollback-journal writer mid-commit
        result = READER.read_on(src, cursor)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.runs == [] and result.cursor == cursor
    assert [(w.code, w.transient) for w in result.warnings] == [("db-busy", True)]
    assert READER.read_on(src, result.cursor).warnings == []


def test_a_wal_file_without_its_shm_is_not_read_and_nothing_is_created(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    live = _copy(fixtures_dir, tmp_path)
    writer = _to_wal(live / "mlflow.db")
    try:
        writer.execute("UPDATE runs SET name = 'only in the wal' WHERE name = 'empty run'")
        writer.commit()
        moved = tmp_path / "moved"
        moved.mkdir()
        for name in ("mlflow.db", "mlflow.db-wal"):  # copied without the -shm
            shutil.copy(live / name, moved / name)
    finally:
        writer.close()
    before = _listing(moved)
    result = READER.read_on(_source(moved), None)
    assert [(w.code, w.transient) for w in result.warnings] == [("wal-not-read", True)]
    assert len(result.runs) == _n_runs(fixtures_dir)
    assert "only in the wal" not in {r.meta["name"] for r in result.runs}
    assert _listing(moved) == before
