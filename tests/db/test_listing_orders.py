"""The app's in-memory ordering of listings (db.listing_orders) gives exactly the order SQL
gives, and never an order of an older index: every change by another connection, process
or writer is seen at the next listing."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
from pathlib import Path

import pytest

import labdeck
from labdeck.db import connection, run_listing
from labdeck.run_reads import RunReads, TableRequest
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
    """Before the table prepares a listing, and after a change the journal of changed runs
    cannot tell, nothing is ordered from memory: the listing comes from SQL, as fast as
    before anything was kept. A commit that changes no run keeps every listing."""
    reads = varied.reads
    reads.keep_orders()
    query, sort = parse_query("has params.opt"), parse_sort("-metrics.loss")
    assert reads._orders.run_pks(query, sort, kept_only=True) is None
    kept = in_memory(reads, "has params.opt", "-metrics.loss")
    with sqlite3.connect(varied.db.path) as other:
        other.execute("UPDATE projects SET scanned_at = scanned_at + 1")
    assert reads._orders.run_pks(query, sort, kept_only=True) == kept
    with sqlite3.connect(varied.db.path) as other:  # an index a migration left without a trigger
        other.execute("DROP TRIGGER run_changes_metrics_update")
        other.execute("UPDATE metrics SET last = -1 WHERE key = 'loss' AND run_pk = ?", (kept[-1],))
    assert reads._orders.run_pks(query, sort, kept_only=True) is None
    listed = reads.run_pks("has params.opt", "-metrics.loss", None)
    assert listed == sql_order(varied, "has params.opt", "-metrics.loss")


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


# What the journal of changed runs must let the kept listings follow: every kind of change
# to what a listing shows, by another connection as a foreign writer makes it.
def _change(conn: sqlite3.Connection, rng: random.Random, pks: list[int]) -> None:
    pk = rng.choice(pks)
    kind = rng.randrange(9)
    if kind == 0:  # a new best, an equal, an unknown loss
        conn.execute("INSERT OR REPLACE INTO metrics(run_pk, key, last, min, max, count, last_step) "
                     "VALUES (?, 'loss', ?, 0, 1, 1, 1)", (pk, rng.choice([-5.0, 0.5, 0.25, 1e9, None])))
    elif kind == 1:  # a tag value seen before, or new: before, between and after the others
        conn.execute("INSERT OR REPLACE INTO tags(run_pk, key, value) VALUES (?, 'team', ?)",
                     (pk, rng.choice(["blue", "Blue", "aaa", "bz", "zzz", "émoi", "Cyan", ""])))
    elif kind == 2:  # a param from number to text and back, or gone
        value = rng.choice(["0.5", "5e-1", "zeta", "Adam", "0.001", None])
        if value is None:
            conn.execute("DELETE FROM params WHERE run_pk = ? AND key = 'lr'", (pk,))
        else:
            number = None if value[0].isalpha() else float(value)
            conn.execute("INSERT OR REPLACE INTO params(run_pk, key, value, value_num) VALUES (?, 'lr', ?, ?)",
                         (pk, value, number))
    elif kind == 3:
        conn.execute("UPDATE runs SET name = ? WHERE pk = ?", (rng.choice(["a", "b", "0", "zz", f"n{pk}", "Z"]), pk))
    elif kind == 4:
        conn.execute("UPDATE runs SET start_time = ? WHERE pk = ?", (rng.choice([None, 0, 10**12, 5 * 10**12]), pk))
    elif kind == 5:
        conn.execute("UPDATE runs SET hidden = NOT hidden WHERE pk = ?", (pk,))
    elif kind == 6:
        conn.execute("UPDATE runs SET status = ?, experiment = ? WHERE pk = ?",
                     (rng.choice(["finished", "failed", "running"]), rng.choice(["", "x", "z"]), pk))
    elif kind == 7 and len(pks) > 20:
        conn.execute("DELETE FROM runs WHERE pk = ?", (pk,))  # its params, tags, metrics cascade
        pks.remove(pk)
    else:
        conn.execute("UPDATE runs SET end_time = ? WHERE pk = ?", (rng.choice([None, 1, 2]), pk))


def _shape(tree) -> tuple:
    """Groups, their runs, and each group's mean loss (to 9 digits: a sum in another order)."""
    means = {node: [round(m, 9) if isinstance(m, float) else m for m in means.get("loss", ())]
             for node, means in tree.means.items()}
    return tree.groups, tree.children, means


def _prepare_all(reads, queries, sorts) -> None:
    for query in queries:
        for sort in sorts:
            reads.prepare_orders(TableRequest(query, sort))


def test_kept_listings_follow_every_change_of_the_runs_they_list(varied, tmp_path):
    """Each round changes a few runs (another connection) or adds runs (the workspace's own
    indexer): every kept listing then comes from memory, re-reading only the changed runs,
    and equals SQL's."""
    reads = varied.reads
    reads.keep_orders()
    orders = reads._orders
    _prepare_all(reads, QUERIES, SORTS)
    groupings = [TableRequest("", "-metrics.loss", group_by=key, means_of=("loss",))
                 for key in ("tags.team", "params.lr", "status", "project")]
    for asked in groupings:
        reads.run_tree(asked)
    rng = random.Random(11)
    pks = varied.run_pks("", include_deleted=True)
    other = sqlite3.connect(varied.db.path)
    other.execute("PRAGMA foreign_keys = ON")
    followed = 0
    for round_ in range(12):
        if round_ % 4 == 3:
            labdeck.start_run(tmp_path / "beta", name=f"new{round_}", params={"lr": "0.0007"},
                              tags={"team": "Blue"}, record_provenance=False).end("finished")
            varied.index()
            pks = varied.run_pks("", include_deleted=True)
        else:
            with other:
                for _ in range(rng.randrange(1, 6)):
                    _change(other, rng, pks)
        for query in QUERIES:
            for sort in SORTS:
                kept = orders.run_pks(parse_query(query), parse_sort(sort), kept_only=True)
                if kept is not None:
                    followed += 1
                    assert kept == sql_order(varied, query, sort), (round_, query, sort)
        for asked in groupings:  # each key's members and the loss column, followed too
            assert _shape(reads.run_tree(asked)) == _shape(RunReads(varied).run_tree(asked)), (round_, asked)
        _prepare_all(reads, QUERIES, SORTS)  # what a column that could not follow drops
    other.close()
    assert len(orders._reads) == len(groupings) + 1  # each grouping's members, and the loss column: kept throughout
    # Nearly all of them followed (a column that meets text among its numbers cannot).
    assert followed > 0.9 * 12 * len(QUERIES) * len(SORTS)


def test_what_the_journal_cannot_tell_drops_every_listing(varied):
    """More changed runs than are followed, a journal trimmed past what was kept, or a
    project's path changed (every run's): the next listing comes from SQL, and is right."""
    reads = varied.reads
    reads.keep_orders()
    orders = reads._orders
    sort = parse_sort("name")
    pks = varied.run_pks("", include_deleted=True)

    def kept() -> list[int] | None:
        return orders.run_pks(None, sort, kept_only=True)

    with contextlib.closing(sqlite3.connect(varied.db.path, isolation_level=None)) as other:  # each its commit
        in_memory(reads, "", "name")
        other.execute("UPDATE runs SET name = name || 'x' WHERE pk = ?", (pks[0],))
        assert kept() == sql_order(varied, "", "name")
        orders.FOLLOWED = 3
        other.execute("UPDATE runs SET name = name || 'y'")
        assert kept() is None
        in_memory(reads, "", "name")
        other.execute("UPDATE projects SET path = path || '-moved' WHERE path LIKE '%beta'")
        assert kept() is None
        in_memory(reads, "", "name")
        other.execute("UPDATE runs SET name = 'q' WHERE pk = ?", (pks[1],))
        other.execute("UPDATE runs SET name = 'r' WHERE pk = ?", (pks[2],))
        other.execute("DELETE FROM run_changes WHERE seq < (SELECT max(seq) FROM run_changes)")  # trimmed
        assert kept() is None
        assert in_memory(reads, "", "name") == sql_order(varied, "", "name")


def test_the_journal_trims_itself(workspace):
    with sqlite3.connect(workspace.db.path) as conn:
        conn.execute("INSERT INTO projects(path, name, added_at) VALUES ('/p', 'p', 0)")
        conn.executemany("INSERT INTO run_changes(run_pk) VALUES (?)", [(i,) for i in range(70_000)])
        first, last, count = conn.execute("SELECT min(seq), max(seq), count(*) FROM run_changes").fetchone()
    assert last - first < 65_536 + 4096 and count == last - first + 1


def test_a_listing_read_as_one_row_of_text_keeps_the_order_of_its_rows(varied):
    """run_listing reads a listing's pks as one aggregate (pks_in_order): it must give the
    rows the listing's SQL gives one by one, in their order, for every sort and filter."""
    with varied.db.rows() as conn:
        for query in QUERIES:
            for sort in SORTS:
                for scope in ({}, {"project": varied.projects()[0].path}, {"include_deleted": True}):
                    sql, params = run_listing.listing_sql(parse_query(query), parse_sort(sort), ordered=True,
                                                          **scope)
                    one_by_one = [pk for (pk,) in conn.execute(sql, params)]
                    assert run_listing.pks_in_order(conn, sql, params) == one_by_one, (query, sort, scope)


@pytest.mark.parametrize("column", ["start_time + 0", "end_time", "start_time * 1.5"])
@pytest.mark.parametrize("one_missing", [False, True])
def test_numbers_read_as_text_equal_the_rows(varied, column, one_missing):
    """Integers come as one row of text, other columns as rows: each as the rows hold them,
    with or without runs that lack a value."""
    import numpy as np

    from labdeck.db.sort_ranks import exact_numbers

    if one_missing:
        with varied.db.write_rows() as conn:
            conn.execute("UPDATE runs SET start_time = NULL, end_time = NULL WHERE pk = (SELECT max(pk) FROM runs)")
    with varied.db.rows() as conn:
        pks, values = exact_numbers(conn, "pk", column, "runs")
        rows = conn.execute(f"SELECT pk, {column} FROM runs").fetchall()
    assert any(v is None for _, v in rows) or not one_missing
    got = dict(zip(pks.tolist(), values.tolist()))
    assert len(got) == len(pks) and got.keys() == {pk for pk, _ in rows}
    for pk, value in rows:
        assert np.isnan(got[pk]) if value is None else got[pk] == value, (pk, value, got[pk])
