"""Migration 0007: an index from before cards opens with the sections table; downgrade removes it."""

from __future__ import annotations

import sqlite3

from alembic import command
from labdeck.db.engine import Database, make_engine
from labdeck.db.migrate import alembic_config, current_revision, upgrade_to


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_0007_upgrades_an_older_index_and_downgrades_cleanly(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = make_engine(path)
    upgrade_to(engine, "0006")
    engine.dispose()
    assert "card_sections" not in _tables(path)
    db = Database(path)
    assert current_revision(db.engine) >= "0007" and "card_sections" in _tables(path)
    db.close()
    engine = make_engine(path)
    command.downgrade(alembic_config(engine), "0006")
    assert current_revision(engine) == "0006" and "card_sections" not in _tables(path)
    engine.dispose()
