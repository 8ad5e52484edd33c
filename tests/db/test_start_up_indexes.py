"""What the app lists when it opens is read from two partial indexes (migration 0017): the
runs shown, newest first, and each experiment's count of runs. Each must give exactly what
the whole runs table gives, as runs are hidden, deleted, gone or written without a start."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter

import labdeck
from labdeck.db import compare, run_listing


def _runs(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT runs.pk, start_time, deleted, hidden, gone_at, experiment, projects.path "
                            "FROM runs JOIN projects ON projects.id = runs.project_id").fetchall()


def _expected_listing(rows) -> list[int]:
    shown = [r for r in rows if not r[2] and not r[3] and r[4] is None]
    # Newest first, runs without a start last, then the higher key first.
    return [r[0] for r in sorted(shown, key=lambda r: (r[1] is None, -(r[1] or 0), -r[0]))]


def _expected_experiments(rows) -> list[tuple[str, str, int]]:
    counts = Counter((r[6], r[5]) for r in rows if not r[2] and r[4] is None and r[5] != "")
    return [(path, name, n) for (path, name), n in sorted(counts.items())]


def test_the_opening_listing_and_experiment_counts_equal_the_whole_table(workspace, tmp_path):
    rng = random.Random(3)
    for project in (tmp_path / "b", tmp_path / "a"):
        for i in range(40):
            labdeck.start_run(project, name=f"r{i}", experiment=rng.choice(["", "x", "y", "zé"]),
                              record_provenance=False).end()
        workspace.add_project(project)
    workspace.index()
    path = workspace.db.path
    pks = [r[0] for r in _runs(path)]
    with sqlite3.connect(path) as conn:  # what other passes and tools leave behind
        conn.executemany("UPDATE runs SET start_time = ? WHERE pk = ?",
                         [(rng.choice([None, 5, 5, 9, 1_700_000_000_000]), pk) for pk in pks[::3]])
        conn.executemany("UPDATE runs SET deleted = 1 WHERE pk = ?", [(pk,) for pk in pks[1::7]])
        conn.executemany("UPDATE runs SET gone_at = 77 WHERE pk = ?", [(pk,) for pk in pks[2::9]])
    workspace.set_hidden_by_pk(pks[4::11])

    for _ in range(2):  # and again once more runs are hidden
        rows = _runs(path)
        with workspace.db.rows() as conn:
            listed = run_listing.run_pks(conn)
            sql, params = run_listing.listing_sql(None, (), ordered=True)
            plan = " ".join(str(step) for step in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            counted = compare.experiments(conn)
            counts_plan = " ".join(str(step) for step in conn.execute(
                "EXPLAIN QUERY PLAN SELECT project_id, experiment, count(*) FROM runs WHERE deleted IS 0 "
                "AND gone_at IS NULL AND experiment != '' GROUP BY project_id, experiment"))
        assert listed == _expected_listing(rows)
        assert counted == _expected_experiments(rows)
        assert "COVERING INDEX ix_runs_listed_newest" in plan
        assert "COVERING INDEX ix_runs_experiments" in counts_plan
        workspace.set_hidden_by_pk(listed[:5])


def test_other_listings_read_the_runs_table_as_before(workspace):
    """A sorted, filtered or scoped listing walking a start-up index in its order, looking up
    each run's row, took twice as long: such listings keep away from those indexes."""
    from labdeck.runs.query import parse_query, parse_sort

    for where, sort, scope in ((None, "name", {}), (None, "metrics.loss", {}), ("params.lr < 0.1", "", {}),
                               (None, "", {"experiment": "x"}), (None, "", {"project": "/p"})):
        sql, params = run_listing.listing_sql(parse_query(where) if where else None, parse_sort(sort),
                                              ordered=True, **scope)
        with workspace.db.rows() as conn:
            plan = " ".join(str(step) for step in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "ix_runs_listed_newest" not in plan and "ix_runs_experiments" not in plan, (where, sort, scope)
