"""The app opens an index written by an older labdeck with a window saying it is upgraded,
the upgrade off the GUI thread; a current or new index opens without one."""

from __future__ import annotations

import threading

import pytest
from tests_support import old_index

from labdeck.db.migrate import current_revision, head_revision

pytestmark = pytest.mark.gui


@pytest.fixture
def shown(monkeypatch):
    """The text of every progress window shown, with the thread each upgrade step ran on."""
    from PySide6.QtWidgets import QProgressDialog

    from labdeck.db import migrate

    record: dict[str, list] = {"dialogs": [], "upgrade_threads": []}
    real_show, real_upgrade = QProgressDialog.show, migrate.upgrade_to

    def show(self):
        record["dialogs"].append(self.labelText())
        real_show(self)

    def upgrade(engine, revision="head"):
        record["upgrade_threads"].append(threading.current_thread() is threading.main_thread())
        real_upgrade(engine, revision)

    monkeypatch.setattr(QProgressDialog, "show", show)
    monkeypatch.setattr(migrate, "upgrade_to", upgrade)
    return record


def test_an_old_index_is_upgraded_on_a_worker_with_a_window_saying_so(qapp, tmp_path, shown):
    from labdeck.ui.open_index import open_workspace

    path = tmp_path / "old.sqlite"
    old_index(path, "0001")
    shown["upgrade_threads"].clear()  # making the old index upgraded it to 0001, here

    ws = open_workspace(str(path))
    try:
        assert len(shown["dialogs"]) == 1 and "Upgrading the index" in shown["dialogs"][0]
        assert shown["upgrade_threads"] == [False]  # upgraded on the worker, not the GUI thread
        assert current_revision(ws.db.engine) == head_revision()
        assert [r.name for r in ws.runs()] == ["old run"]
    finally:
        ws.close()
    # Opened again: current, no window.
    ws = open_workspace(str(path))
    ws.close()
    assert len(shown["dialogs"]) == 1


def test_a_new_index_opens_without_a_window(qapp, tmp_path, shown):
    from labdeck.ui.open_index import open_workspace

    ws = open_workspace(str(tmp_path / "new.sqlite"))
    try:
        assert ws.runs() == [] and shown["dialogs"] == []
    finally:
        ws.close()


def test_a_file_that_is_not_an_index_still_gets_the_clear_message(qapp, tmp_path, shown):
    from labdeck.db.engine import IndexOpenError
    from labdeck.ui.open_index import open_workspace

    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database " * 100)
    with pytest.raises(IndexOpenError, match="cannot open the index"):
        open_workspace(str(bad))
    assert shown["dialogs"] == []
