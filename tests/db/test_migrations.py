"""Migrations: an old index opens in a newer labdeck; the models match the migrations."""

from __future__ import annotations

import sqlite3

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from tests_support import old_index

from labdeck.db.engine import Database, make_engine
from labdeck.db.migrate import alembic_config, current_revision, head_revision, upgrade_to
from labdeck.db.schema import metadata


def test_first_migration_upgrades_to_head_keeping_data(tmp_path):
    path = tmp_path / "old.sqlite"
    old_index(path, "0001")

    db = Database(path)  # opening migrates to head
    assert current_revision(db.engine) == head_revision(db.engine)
    from labdeck.db import run_listing

    with db.rows() as conn:
        runs = run_listing.runs_by_pk(conn, run_listing.run_pks(conn))
    assert [(r.name, r.params) for r in runs] == [("old run", {"lr": "0.1"})]
    assert runs[0].warnings == ()
    db.close()


def test_models_match_migrations(tmp_path):
    db = Database(tmp_path / "i.sqlite")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    db.close()


def test_revision_chain_is_linear(tmp_path):
    engine = make_engine(tmp_path / "x.sqlite")
    script = ScriptDirectory.from_config(alembic_config(engine))
    revisions = list(script.walk_revisions())
    assert len(script.get_heads()) == 1
    assert all(len(r._normalized_down_revisions) <= 1 for r in revisions)  # noqa: SLF001
    assert revisions[-1].down_revision is None


def test_index_is_wal_with_foreign_keys(tmp_path):
    db = Database(tmp_path / "i.sqlite")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.close()


def test_the_head_read_from_the_scripts_is_alembics_head(tmp_path):
    engine = make_engine(tmp_path / "i.sqlite")
    assert ScriptDirectory.from_config(alembic_config(engine)).get_heads() == [head_revision()]


def test_params_tags_and_metrics_move_into_key_order_tables_and_back(tmp_path):
    """0014: the same rows, in WITHOUT ROWID tables that still cascade from their run; and
    a downgrade gives rowid tables with the same rows again."""
    path = tmp_path / "i.sqlite"
    engine = make_engine(path)
    upgrade_to(engine, "0013")
    rows = {
        "params": [(1, "lr", "0.1", 0.1), (1, "opt", "adam", None), (2, "lr", "0.01", 0.01)],
        "tags": [(1, "team", "vision"), (2, "team", "nlp")],
        "metrics": [(1, "loss", 0.5, 0.4, 2.0, 10, 9, 12.5), (2, "loss", None, None, None, 3, 2, None)],
    }
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO projects (id, path, name, added_at) VALUES (1, '/p', 'p', 5)")
        conn.execute("INSERT INTO sources (id, project_id, format, path, fingerprint, cursor, indexed_at) "
                     "VALUES (1, 1, 'labdeck', 'r', 'fp', '{}', 0)")
        for pk in (1, 2):
            conn.execute("INSERT INTO runs (pk, uid, project_id, source_pk, format, source_id, experiment, name, "
                         "status, deleted, path, updated_at) VALUES (?, ?, 1, 1, 'labdeck', ?, '', ?, 'finished', 0, "
                         "'r', 0)", (pk, f"u{pk}", f"run-{pk}", f"run {pk}"))
        for table, values in rows.items():
            marks = ",".join("?" * len(values[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
    engine.dispose()

    def stored(conn: sqlite3.Connection) -> dict:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in rows}

    def without_rowid(conn: sqlite3.Connection) -> set[str]:
        return {t for t in rows if "WITHOUT ROWID" in conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]}

    db = Database(path)
    with sqlite3.connect(path) as conn:
        assert stored(conn) == {t: sorted(v, key=repr) for t, v in rows.items()}
        assert without_rowid(conn) == set(rows)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM runs WHERE pk = 2")  # its rows go with it
        assert [r[0] for r in conn.execute("SELECT DISTINCT run_pk FROM params")] == [1]
        assert conn.execute("SELECT count(*) FROM metrics WHERE run_pk = 2").fetchone() == (0,)
    db.close()

    engine = make_engine(path)
    command.downgrade(alembic_config(engine), "0013")
    with sqlite3.connect(path) as conn:
        assert without_rowid(conn) == set()
        assert stored(conn)["tags"] == [(1, "team", "vision")]
    engine.dispose()


def test_provenance_moves_out_of_the_runs_table_and_back(tmp_path):
    """0015: runs keep every other column and their keys; provenance sits in its own table
    (none for '{}'), goes with its run, and a downgrade puts it back in place."""
    path = tmp_path / "i.sqlite"
    engine = make_engine(path)
    upgrade_to(engine, "0014")
    prov = '{"git": {"commit": "abc"}, "packages": {"numpy": "2.4.6"}}'
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO projects (id, path, name, added_at) VALUES (1, '/p', 'p', 5)")
        conn.execute("INSERT INTO sources (id, project_id, format, path, fingerprint, cursor, indexed_at) "
                     "VALUES (1, 1, 'labdeck', 'r', 'fp', '{}', 0)")
        for pk, text in ((1, prov), (2, "{}")):
            conn.execute("INSERT INTO runs (pk, uid, project_id, source_pk, format, source_id, experiment, name, "
                         "status, deleted, path, updated_at, provenance, hidden, gone_at, parent_source_id) "
                         "VALUES (?, ?, 1, 1, 'labdeck', ?, 'e', ?, 'finished', 0, 'r', 7, ?, ?, ?, ?)",
                         (pk, f"u{pk}", f"run-{pk}", f"run {pk}", text, pk == 2, None if pk == 1 else 99,
                          None if pk == 1 else "run-1"))
        conn.execute("INSERT INTO params VALUES (1, 'lr', '0.1', 0.1)")
        before = conn.execute("SELECT pk, uid, name, hidden, gone_at, parent_source_id, updated_at FROM runs "
                              "ORDER BY pk").fetchall()
        indexes = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'runs' "
                                                    "AND type = 'index'"))
    engine.dispose()

    db = Database(path)
    from labdeck.db import compare

    with db.rows() as conn:
        assert compare.provenance_texts(conn, [1, 2]) == {1: prov, 2: "{}"}
    db.close()
    with sqlite3.connect(path) as conn:
        assert "provenance" not in [c[1] for c in conn.execute("PRAGMA table_info(runs)")]
        assert conn.execute("SELECT pk, uid, name, hidden, gone_at, parent_source_id, updated_at FROM runs "
                            "ORDER BY pk").fetchall() == before
        added_since = ["ix_runs_experiments", "ix_runs_listed_newest"]  # 0017
        assert sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'runs' "
                                                 "AND type = 'index'")) == sorted(indexes + added_since)
        assert conn.execute("SELECT * FROM run_provenance").fetchall() == [(1, prov)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM runs WHERE pk = 1")  # its provenance and params go with it
        assert conn.execute("SELECT count(*) FROM run_provenance").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM params").fetchone() == (0,)
        conn.execute("INSERT INTO run_provenance VALUES (2, ?)", (prov,))

    engine = make_engine(path)
    command.downgrade(alembic_config(engine), "0014")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT pk, provenance, hidden, gone_at FROM runs").fetchall() == [(2, prov, 1, 99)]
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'run_provenance'").fetchall() == []
    engine.dispose()
