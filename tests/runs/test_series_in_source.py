"""MLflow SQLite series served from the store on demand: what the index keeps, what users read."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest
from alembic import command

from labdeck.db import compare
from labdeck.db.migrate import alembic_config
from labdeck.db.series_sources import SeriesUnavailable

DBL_MAX = 1.7976931348623157e308


def _value(v) -> float:
    x = float(v)
    return math.copysign(math.inf, x) if abs(x) == DBL_MAX else x


def _token(x: float):
    return "nan" if math.isnan(x) else x


@pytest.fixture
def project(tmp_path, fixtures_dir):
    root = tmp_path / "mlflow-sqlite"
    shutil.copytree(fixtures_dir / "mlflow-sqlite", root)
    return root


def _expected(project) -> dict:
    return {r["run_id"]: r for r in json.loads((project / "expected.json").read_text())["runs"]}


def _runs(ws) -> dict:
    return {r.source_id: r for r in ws.runs("", include_deleted=True) if r.format == "mlflow"}


def test_the_index_keeps_summaries_and_serves_every_point_from_the_store(workspace, project):
    workspace.add_project(project)
    stats = workspace.index()
    expected = _expected(project)
    assert stats.points == sum(len(h) for r in expected.values() for h in r["metric_history"].values())
    with sqlite3.connect(workspace.index_path) as con:  # no point was copied
        assert con.execute("SELECT count(*) FROM metric_chunks").fetchone() == (0,)
    runs = _runs(workspace)
    assert set(runs) == set(expected)
    for rid, exp in expected.items():
        run = runs[rid]
        series = workspace.series(run.id)
        assert set(series) == set(exp["metric_history"]) == set(run.metrics)
        for key, history in exp["metric_history"].items():
            want = Counter((h["step"], float(h["timestamp"]), _token(_value(h["value"]))) for h in history)
            got = series[key]
            assert Counter(zip(got.steps.tolist(), got.walls.tolist(), map(_token, got.values.tolist()))) == want
            latest = _value(exp["latest_metrics"][key])
            shown = run.metrics[key].last
            assert _token(math.nan if shown is None else shown) == _token(latest), (exp["run_name"], key)
    # The compare view's batch read agrees with the one-run read, for a chosen key.
    key = "loss"
    pks = workspace.run_pks(include_deleted=True)
    with workspace.db.rows() as conn:
        batch = compare.series_many(conn, pks, [key])
    by_uid = {r.id: r for r in runs.values()}
    with_loss = [r for r in runs.values() if key in r.metrics]
    assert with_loss
    with workspace.db.rows() as conn:
        from labdeck.db.run_listing import find_run_pk

        for run in with_loss:
            pk = find_run_pk(conn, run.id)
            assert batch[pk][key].steps.tolist() == workspace.series(run.id, [key])[key].steps.tolist()
    assert all(set(per) == {key} for per in batch.values())
    assert len(by_uid) == len(runs)


def test_new_points_are_summarised_and_served_after_a_re_index(workspace, project):
    workspace.add_project(project)
    workspace.index()
    run = next(r for r in _runs(workspace).values() if r.status == "running")
    before = run.metrics["loss"]
    t0 = 1_900_000_000_000
    with sqlite3.connect(project / "mlflow.db") as con:  # rows as MLflow's store writes them
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
            [("loss", 0.01, t0, run.source_id, 100, 0), ("loss", 0.0, t0 + 1, run.source_id, 101, 1)],
        )
    con.close()
    stats = workspace.index()
    assert stats.points == 2
    after = _runs(workspace)[run.source_id].metrics["loss"]
    assert (after.count, after.last_step) == (before.count + 2, 101) and math.isnan(after.last)  # NaN last
    assert after.min == min(before.min, 0.01)
    loss = workspace.series(run.id, ["loss"])["loss"]
    assert loss.steps.tolist()[-2:] == [100, 101] and math.isnan(loss.values[-1])

    # A late row at an earlier step: counted, and it moves the max, but the last stays.
    with sqlite3.connect(project / "mlflow.db") as con:
        con.execute("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
                    ("loss", 7.5, t0 + 2, run.source_id, 3, 0))
    con.close()
    workspace.index()
    late = _runs(workspace)[run.source_id].metrics["loss"]
    assert (late.count, late.max, late.last_step) == (after.count + 1, max(after.max, 7.5), 101)
    assert math.isnan(late.last)


def test_a_store_gone_since_indexing_says_so_when_its_points_are_asked_for(workspace, project):
    workspace.add_project(project)
    workspace.index()
    run = next(iter(_runs(workspace).values()))
    (project / "mlflow.db").rename(project / "moved.db")
    with pytest.raises(SeriesUnavailable, match="mlflow.db is gone since it was indexed"):
        workspace.series(run.id)
    assert run.metrics  # the summaries stay until the next index notices the store is gone
    # On the command line: the same message, no traceback.
    done = subprocess.run([sys.executable, "-m", "labdeck", "show", run.id, "--series", "--index",
                           str(workspace.index_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "mlflow.db is gone since it was indexed" in done.stderr


def test_downgrading_forgets_the_reads_that_copied_no_points(workspace, project):
    workspace.add_project(project)
    workspace.index()
    command.downgrade(alembic_config(workspace.db.engine), "0009")
    with sqlite3.connect(workspace.index_path) as con:
        rows = con.execute("SELECT fingerprint, cursor FROM sources WHERE format = 'mlflow_sqlite'").fetchall()
    assert rows == [("", "{}")]  # the next index by an older labdeck copies them again
