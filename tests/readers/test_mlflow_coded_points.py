"""Points of a whole MLflow run read with each row's key as a number give exactly what reading
each row's key as text gives: the same series, in logging order, keys in order of first
appearance; and the text read is used where numbering cannot be (many keys, a key written
between the two reads)."""

from __future__ import annotations

import sqlite3

import numpy as np

from labdeck.runs.readers import _mlflow_sqlite_series as points
from labdeck.runs.readers._mlflow_sqlite_store import connect

SCHEMA = """CREATE TABLE metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
    run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL,
    CONSTRAINT metric_pk PRIMARY KEY ("key", timestamp, step, run_uuid, value, is_nan));
CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, "key", step);"""


def store(tmp_path, rows) -> sqlite3.Connection:
    """A store holding ``rows`` for run 'r' (bytes keys stored as text that is not UTF-8),
    opened as the reader opens one."""
    path = tmp_path / "mlflow.db"
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA)
        con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                        "VALUES (CAST(? AS TEXT), ?, ?, 'r', ?, ?)", rows)
    con.close()
    return connect(path)[0]


def by_text(con) -> dict:
    rows = points._good(con.execute(points._RUN_SQL, ("r",)).fetchall())
    return points._group(np.array(rows, dtype=points._ROW))


def same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        np.array_equal(getattr(a[k], f), getattr(b[k], f), equal_nan=True)
        for k in a for f in ("steps", "values", "walls"))


def varied_rows(keys, n=300, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        key = keys[int(rng.integers(0, len(keys)))]
        nan = rng.random() < 0.05
        out.append((key, 0.0 if nan else float(rng.normal()), 1000 + i, i // len(keys), int(nan)))
    out.append((keys[0], "not a number", 5000, 1, 0))  # a row MLflow could not have written
    return out


def test_numbered_keys_read_as_text_keys_do(tmp_path):
    con = store(tmp_path, varied_rows(["loss", "acc", "lr", "val/loss"]))
    coded = points._coded(con, "r")
    assert coded is not None and same(coded, by_text(con))


def test_keys_that_are_not_utf8_are_one_series_as_their_text_is(tmp_path):
    rows = varied_rows([b"\xff", b"\xfe", "ok"], seed=1)
    con = store(tmp_path, rows)
    coded = points._coded(con, "r")
    assert coded is not None and same(coded, by_text(con)) and len(coded) == 2


def test_many_keys_are_read_as_text(tmp_path):
    con = store(tmp_path, varied_rows([f"m{i}" for i in range(points.MANY_KEYS + 1)], n=400))
    assert points._coded(con, "r") is None
    assert same(points._run_points(con, "r", None), by_text(con))


def test_a_key_written_between_the_reads_falls_back_to_text(tmp_path, monkeypatch):
    con = store(tmp_path, varied_rows(["loss", "acc"]))
    # As if "acc" were logged for the first time after the run's keys were read.
    monkeypatch.setattr(points, "_KEYS_SQL", points._KEYS_SQL + " AND key != 'acc'")
    assert points._coded(con, "r") is None
    got = points._run_points(con, "r", None)
    assert sorted(got) == ["acc", "loss"] and sum(len(s.steps) for s in got.values()) == 300


def test_a_few_keys_are_read_through_the_run_and_key_index_where_there_is_one(tmp_path):
    con = store(tmp_path, varied_rows(["loss", "acc", "lr"]))
    sql = points._key_sql(con)
    plan = " ".join(str(row) for row in con.execute(f"EXPLAIN QUERY PLAN {sql}", ("r", "loss")))
    assert "index_metrics_run_uuid_key_step" in plan and "key=?" in plan
    whole = points._run_points(con, "r", None)
    assert same(points._run_points(con, "r", ["loss", "acc"], sql), {k: whole[k] for k in ("loss", "acc")})
    con.close()
    with sqlite3.connect(tmp_path / "mlflow.db") as writer:  # a store from before MLflow made the index
        writer.execute("DROP INDEX index_metrics_run_uuid_key_step")
    writer.close()
    assert points._key_sql(connect(tmp_path / "mlflow.db")[0]) == points._KEY_SQL
