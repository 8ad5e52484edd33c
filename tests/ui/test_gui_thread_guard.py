"""No database session and no file open on the GUI thread while a user works the window.

Every Session created and every ``open()`` made during the flows (open the app, select runs,
compare, group, switch tabs) is recorded with its thread; any on the GUI thread fails the test
with where it came from.
"""

from __future__ import annotations

import builtins
import io
import threading
import traceback

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests_support import make_runs

from labdeck.db import connection

pytestmark = pytest.mark.gui


@pytest.fixture
def gui_thread_calls(monkeypatch):
    """(what, stack) of each session / file open made on the main (GUI) thread."""
    offenders: list[tuple[str, str]] = []
    main = threading.main_thread()

    def note(what: str) -> None:
        if threading.current_thread() is main:
            offenders.append((what, "".join(traceback.format_stack(limit=12)[:-2])))

    real_init, real_open, real_connect = Session.__init__, builtins.open, Engine.connect
    real_plain_connect = connection.connect

    def engine_connect(self, *a, **kw):  # raw SQL reads that bypass the ORM
        note("database connection")
        return real_connect(self, *a, **kw)

    def session_init(self, *a, **kw):
        note("database session")
        real_init(self, *a, **kw)

    def recording_open(file, *a, **kw):
        note(f"open({file!r})")
        return real_open(file, *a, **kw)

    def plain_connect(*a, **kw):  # the plain-SQL reads (db/run_listing.py)
        note("plain database connection")
        return real_plain_connect(*a, **kw)

    monkeypatch.setattr(connection, "connect", plain_connect)
    monkeypatch.setattr(Session, "__init__", session_init)
    monkeypatch.setattr(Engine, "connect", engine_connect)
    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    return offenders


def test_flows_never_touch_the_index_or_files_on_the_gui_thread(workspace, project, open_window, gui,
                                                                  gui_thread_calls):
    make_runs(project, 6, steps=50)
    workspace.add_project(project)
    workspace.index()
    assert gui_thread_calls  # the recorder sees the set-up's own reads and writes (made here, on this thread)
    gui_thread_calls.clear()  # the set-up above is the test's, not the app's

    w = open_window(rows=6)
    gui.select(w, [0, 1, 2])
    w.compare.set_metrics(["loss"])
    gui.idle(w)
    w.runs.set_group_by("params.idx")
    gui.idle(w)
    w.runs.set_group_by("")
    gui.idle(w)
    for i in range(w.tabs.count()):
        w.tabs.setCurrentIndex(i)
        gui.idle(w)
    w.tabs.setCurrentIndex(0)
    gui.idle(w)

    assert not gui_thread_calls, "\n\n".join(f"{what} on the GUI thread:\n{stack}"
                                             for what, stack in gui_thread_calls[:5])
