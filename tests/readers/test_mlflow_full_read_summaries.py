"""A full read of an MLflow store summarises its rows through MLflow's (run, key, step) index,
and checks their number against the table's: rows an index misses send the read back to the
table, so no series is summarised short."""

from __future__ import annotations

import sqlite3

import numpy as np

from labdeck.runs.readers import _mlflow_sqlite_summaries as summaries
from labdeck.runs.readers._mlflow_sqlite_store import connect

SCHEMA = """CREATE TABLE metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL, timestamp BIGINT NOT NULL,
    run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, is_nan BOOLEAN DEFAULT '0' NOT NULL,
    CONSTRAINT metric_pk PRIMARY KEY ("key", timestamp, step, run_uuid, value, is_nan));
CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, "key", step);"""


def store(tmp_path) -> tuple[sqlite3.Connection, dict]:
    rng = np.random.default_rng(2)
    rows, expected = [], {}
    for run in ("a", "b", "c"):
        for key in ("loss", "acc", "lr"):
            values = rng.normal(size=int(rng.integers(5, 50)))
            expected[(run, key)] = (len(values), float(values.min()), float(values.max()), float(values[-1]))
            rows += [(key, float(v), 1000 + i, run, i) for i, v in enumerate(values)]
    rows.sort(key=lambda r: r[4])  # step by step, runs and keys interleaved: several runs logging at once
    path = tmp_path / "mlflow.db"
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA)
        con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step) VALUES (?, ?, ?, ?, ?)", rows)
    con.close()
    return connect(path)[0], expected


def check(got: dict, expected: dict) -> None:
    assert {(run, key) for run, keys in got.items() for key in keys} == set(expected)
    for (run, key), (n, lo, hi, last) in expected.items():
        s = got[run][key]
        assert (s["count"], s["min"], s["max"], s["last"]) == (n, lo, hi, last), (run, key)


def test_a_full_read_through_the_index_summarises_every_series(tmp_path):
    con, expected = store(tmp_path)
    hi = con.execute("SELECT max(rowid) FROM metrics").fetchone()[0]
    got, warnings, points = summaries.summarise(con, 0, hi, ["a", "b", "c"], "mlflow.db")
    check(got, expected)
    assert not warnings and points == sum(n for n, *_ in expected.values())


def test_rows_an_index_misses_send_the_read_back_to_the_table(tmp_path, monkeypatch):
    con, expected = store(tmp_path)
    hi = con.execute("SELECT max(rowid) FROM metrics").fetchone()[0]
    # As an index page lost to damage would: the walk of the index misses a series.
    monkeypatch.setattr(summaries, "_AGGREGATE_ALL", summaries._AGGREGATE_ALL.replace("{where}", "AND key != 'acc'"))
    got, _warnings, _points = summaries.summarise(con, 0, hi, ["a", "b", "c"], "mlflow.db")
    check(got, expected)
