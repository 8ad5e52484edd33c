"""The app's in-memory ordering of listings (db.listing_orders) gives exactly the order SQL
gives, and never an order of an older index: every change by another connection, process
or writer is seen at the next listing."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from pathlib import Path

import pytest

import labdeck
from labdeck.db import connection, run_listing
from labdeck.run_reads import TableRequest
from labdeck.runs.query import parse_query, parse_sort

SORTS = [
    "", "name", "-name", "status,-name", "experiment,name", "project", "-start_time", "end_time",
    "params.lr", "-params.lr", "params.lr,-name", "params.opt", "-params.opt,params.lr",
    "metrics.loss", "-metrics.loss", "metrics.acc,-metrics.loss", "tags.team", "-tags.team,name",
    "params.missing", "id", "-format,path",
]
QUERIES = ["", "params.lr < 0.01", "metrics.loss < 1 or tags.team = blue", 'name ~ "a"', "has params.opt",
           "not status = finished"]


@pytest.fixture
def varied(workspace, tmp_path):
    """Runs of two projects with what orders oddly: equal numbers spelt differently, text
    among numbers, missing keys, NaN, equal names, non-ASCII text, unfinished runs."""
    rng = random.Random(7)
    spellings = ["0.001", "1e-3", "0.0010", "0.1", "1", "1.0", "3e-4", "adaptive", "Auto", "émoi"]
    for project in (tmp_path / "alpha", tmp_path / "beta"):
        for i in range(30):
            params = {"lr": rng.choice(spellings)}
            if rng.random() < 0.7:
                params["opt"] = rng.choice(["adam", "sgd", "Adam", "ÄdaGrad", "10", "9"])
            run = labdeck.start_run(project, name=rng.choice(["a", "b", "café", "a b", f"r{i}"]),
                                    experiment=rng.choice(["", "x", "y"]), params=params,
                                    tags={"team": rng.choice(["red", "blue", "Blue"])} if i % 3 else {},
                                    record_provenance=False)
            if rng.random() < 0.8:
                run.log({"loss": rng.choice([0.5, 0.25, 2.0, rng.random(), float("nan")]),
                         "acc": rng.choice([0.9, 0.5, rng.random()])}, step=1)
            if i % 7:
                run.end(rng.choice(["finished", "finished", "failed"]))
        workspace.add_project(project)
    workspace.index()
    some = workspace.run_pks("")[::9]
    workspace.set_hidden_by_pk(some[:2])
    return workspace


def sql_order(ws, query, sort, **scope):
    with ws.db.rows() as conn:
        return run_listing.run_pks(conn, parse_query(query), parse_sort(sort), **scope)


def in_memory(reads, query, sort, project=None, experiment=None):
    """The listing as the app gets it once the table has prepared it: from memory only."""
    reads.prepare_orders(TableRequest(query, sort, project, experiment))
    kept = reads._orders.run_pks(parse_query(query), parse_sort(sort), project=project, experiment=experiment,
                                 kept_only=True)
    assert kept is not None, (query, sort)
    assert reads.run_pks(query, sort, project, experiment) == kept
    return kept


def test_every_sort_and_filter_orders_as_sql_does(varied):
    reads = varied.reads
    reads.keep_orders()
    for query in QUERIES:
        for sort in SORTS:
            assert in_memory(reads, query, sort) == sql_order(varied, query, sort), (query, sort)
    alpha = next(p.path for p in varied.projects() if p.name == "alpha")
    for sort in ("-metrics.loss", "params.lr,name"):
        assert in_memory(reads, "", sort, alpha, "x") == sql_order(varied, "", sort, project=alpha, experiment="x")


def test_a_listing_not_kept_comes_from_sql(varied):
    """Before the table prepares a listing, and after any change to the index, nothing is
    ordered from memory: the listing comes from SQL, as fast as before anything was kept."""
    reads = varied.reads
    reads.keep_orders()
    query = parse_query("has params.opt")
    assert reads._orders.run_pks(query, parse_sort("-metrics.loss"), kept_only=True) is None
    in_memory(reads, "has params.opt", "-metrics.loss")
    with sqlite3.connect(varied.db.path) as other:
        other.execute("UPDATE projects SET scanned_at = scanned_at + 1")
    assert reads._orders.run_pks(query, parse_sort("-metrics.loss"), kept_only=True) is None
    assert reads.run_pks("has params.opt", "-metrics.loss", None) == sql_order(varied, "has params.opt", "-metrics.loss")


def test_a_change_by_another_writer_is_seen_at_the_next_listing(varied, tmp_path):
    reads = varied.reads
    reads.keep_orders()
    before = in_memory(reads, "", "-metrics.loss")
    last = varied.runs_by_pk(before[-1:])[0]  # no loss, or the lowest
    # Another process's way in: its own connection, committing a new best loss.
    other = sqlite3.connect(varied.db.path)
    with other:
        pk = before[-1]
        other.execute("INSERT OR REPLACE INTO metrics(run_pk, key, last, min, max, count, last_step) "
                      "VALUES (?, 'loss', 99.0, 99.0, 99.0, 1, 1)", (pk,))
    other.close()
    after = in_memory(reads, "", "-metrics.loss")
    assert after[0] == pk != before[0], last.name
    assert after == sql_order(varied, "", "-metrics.loss")
    # A new run, indexed by the workspace's own writer, is listed at once.
    labdeck.start_run(tmp_path / "alpha", name="newest", record_provenance=False).end("finished")
    varied.index()
    listed = in_memory(reads, "", "")
    assert varied.runs_by_pk(listed[:1])[0].name == "newest"
    assert listed == sql_order(varied, "", "")


def test_a_kept_grouping_follows_the_index(varied):
    reads = varied.reads
    reads.keep_orders()
    asked = TableRequest("", "", group_by="tags.team", means_of=("loss",))
    groups = reads.run_tree(asked).groups
    assert reads.run_tree(asked).groups == groups  # kept
    pk = reads.run_pks("", "", None)[0]
    with sqlite3.connect(varied.db.path) as other:
        other.execute("INSERT OR REPLACE INTO tags(run_pk, key, value) VALUES (?, 'team', 'violet')", (pk,))
    regrouped = reads.run_tree(asked)
    assert "violet" in regrouped.groups and "violet" not in groups


def test_text_in_a_numeric_column_falls_back_to_sql(varied):
    """A foreign writer may put text where numbers belong; SQLite orders it after every
    number, and so does the listing (from SQL, as NumPy cannot rank it alike)."""
    reads = varied.reads
    reads.keep_orders()
    pk = reads.run_pks("has metrics.loss", "", None)[0]
    with sqlite3.connect(varied.db.path) as other:
        other.execute("UPDATE metrics SET last = 'not a number' WHERE run_pk = ? AND key = 'loss'", (pk,))
    for sort in ("metrics.loss", "-metrics.loss"):
        reads.prepare_orders(TableRequest("", sort))  # cannot keep it: says nothing
        assert reads._orders.run_pks(None, parse_sort(sort), kept_only=True) is None
        assert reads.run_pks("", sort, None) == sql_order(varied, "", sort)


def test_listings_from_several_threads_agree(varied):
    reads = varied.reads
    reads.keep_orders()
    expected = {sort: sql_order(varied, "", sort) for sort in SORTS}
    failures: list[str] = []

    def list_all() -> None:
        for sort in SORTS:  # preparing, and listing from memory or SQL, side by side
            reads.prepare_orders(TableRequest("", sort))
            if reads.run_pks("", sort, None) != expected[sort]:
                failures.append(sort)

    threads = [threading.Thread(target=list_all) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_closing_the_workspace_closes_the_kept_connection(varied):
    reads = varied.reads
    reads.keep_orders()
    conn = reads._orders._conn
    assert isinstance(conn, sqlite3.Connection)
    varied.close()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")
    assert connection.connect(varied.db.path).execute("SELECT count(*) FROM runs").fetchone()[0] > 0


def test_an_index_file_replaced_is_read_anew(varied, tmp_path):
    """A restored or moved-over index is another file: the kept connection would go on
    reading the old one, whose version never changes again."""
    reads = varied.reads
    reads.keep_orders()
    before = in_memory(reads, "", "name")
    copy = tmp_path / "copy.sqlite"
    with sqlite3.connect(varied.db.path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    target = sqlite3.connect(copy)
    with target:
        target.execute("DELETE FROM runs WHERE pk = ?", (before[0],))
    target.close()  # the last connection: its write-ahead log goes into the file
    varied.db.close()  # the workspace's own pool; the kept connection stays open
    for old in (varied.db.path, Path(f"{varied.db.path}-wal"), Path(f"{varied.db.path}-shm")):
        old.unlink(missing_ok=True)  # deleted, as a user deletes an index, and another put there
    os.replace(copy, varied.db.path)
    assert in_memory(reads, "", "name") == before[1:] == sql_order(varied, "", "name")
