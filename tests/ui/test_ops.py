"""The views' one way to run work off the GUI thread (ui/ops.py): results, errors, dead owners, close."""

from __future__ import annotations

import logging
import os
import sys
import threading

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.gui


def test_a_result_and_an_error_come_back_on_the_gui_thread_and_the_error_is_logged(qtbot, caplog):
    from PySide6.QtWidgets import QWidget

    from labdeck.ui.ops import OpRunner

    owner = QWidget()
    qtbot.addWidget(owner)
    runner = OpRunner(owner, "test")
    got: list = []
    gui = threading.current_thread()

    def fail(task):
        raise ValueError("broken on purpose")

    runner.run(lambda task: 41 + 1, lambda r: got.append((r, threading.current_thread() is gui)))
    qtbot.waitUntil(lambda: not runner.busy)
    with caplog.at_level(logging.ERROR, logger="labdeck.ui.ops"):
        runner.run(fail, lambda r: got.append((r, threading.current_thread() is gui)))
        qtbot.waitUntil(lambda: not runner.busy)
    assert got[0] == (42, True)
    assert isinstance(got[1][0], ValueError) and got[1][1]
    assert "test failed" in caplog.text and "broken on purpose" in caplog.text


def test_a_result_whose_owner_was_deleted_is_dropped(qtbot):
    import shiboken6
    from PySide6.QtWidgets import QApplication, QWidget

    from labdeck.ui import ops

    owner = QWidget()
    runner = ops.OpRunner(owner, "orphan")
    release = threading.Event()
    got: list = []
    runner.run(lambda task: release.wait(10) and "late", got.append)
    shiboken6.delete(owner)  # the dialog closed while the work ran
    release.set()
    qtbot.waitUntil(lambda: not ops.running())
    for _ in range(5):
        QApplication.processEvents()
    assert got == []


def test_closing_the_main_window_with_work_in_flight_leaves_no_thread_running(open_window):
    from labdeck.tasks import Cancelled
    from labdeck.ui import ops

    w = open_window()
    view = w.views["Models"]
    started, outcome = threading.Event(), []

    def slow(task):
        started.set()
        while True:  # a long operation that honours Cancel
            task.check()
            threading.Event().wait(0.01)

    def until_cancelled(task):
        try:
            slow(task)
        except Cancelled:
            outcome.append("cancelled")
            raise

    assert view.actions.run(until_cancelled, lambda r: None)
    assert started.wait(10)
    w.close()
    assert ops.running() == [] and outcome == ["cancelled"]
    assert not [t for t in threading.enumerate() if t.name.startswith("labdeck-op-")]


def test_a_newer_read_on_a_channel_cancels_the_older_and_only_its_result_arrives(qtbot, caplog):
    from labdeck.ui.ops import ReadChannels

    reads = ReadChannels()
    release = threading.Event()
    got, failures = [], []
    reads.failed.connect(lambda channel, message: failures.append((channel, message)))
    reads.submit("query", lambda: release.wait(10) and "old", got.append)
    reads.submit("query", lambda: "new", got.append)
    release.set()
    qtbot.waitUntil(lambda: reads.idle)
    assert got == ["new"]

    def broken():
        raise KeyError("column")

    with caplog.at_level(logging.ERROR, logger="labdeck.ui.ops"):
        reads.submit("page", broken, got.append)
        qtbot.waitUntil(lambda: reads.idle)
    assert failures == [("page", "'column'")] and got == ["new"]  # shown, not delivered as a result
    assert "read page failed" in caplog.text and "Traceback" in caplog.text  # and logged in full
    reads.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("labdeck-read")]
    assert reads.submit("query", lambda: "late", got.append) == 0 and got == ["new"]


def test_closing_the_window_during_an_index_pass_joins_every_thread(open_window, workspace, project, gui):
    from tests_support import make_runs

    from labdeck.ui import ops

    make_runs(project, 300, steps=20)
    workspace.add_project(project)
    w = open_window()
    w.indexing.index(None)
    assert w.indexing.busy
    indexer = w.indexing.indexer_pid
    assert indexer is not None
    w.close()
    assert ops.running() == []
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("labdeck-op-", "labdeck-read", "labdeck-index"))]
    assert alive == []
    with pytest.raises(ProcessLookupError):  # the indexer process stopped, and was waited for
        os.kill(indexer, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have priorities of their own on Linux")
def test_lowly_work_runs_below_everything_else_and_is_told_apart_from_reads_waited_for(qtbot):
    """What nobody waits for (keeping a listing's order) runs on a thread the system
    schedules last; the reads the user waits for keep their priority, and "idle but" tells
    the two apart."""
    from labdeck.ui.ops import ReadChannels

    reads = ReadChannels()
    release = threading.Event()
    got: dict[str, int] = {}

    def priority(name: str, wait: bool = False):
        def read() -> tuple[str, int]:
            if wait:
                release.wait(10)
            return name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return read

    reads.submit("orders", priority("lowly", wait=True), lambda r: got.update([r]), lowly=True)
    reads.submit("query", priority("query"), lambda r: got.update([r]))
    qtbot.waitUntil(lambda: "query" in got)
    assert reads.idle_but("orders") and not reads.idle
    release.set()
    qtbot.waitUntil(lambda: reads.idle)
    assert got == {"query": os.getpriority(os.PRIO_PROCESS, 0), "lowly": 19}
    reads.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("labdeck-read")]


def test_lowly_work_waits_for_the_reads_the_user_waits_for(qtbot):
    """Lowly work starts, and goes on between its steps, only once no read the user waits
    for is under way: on two cores it would otherwise hold the interpreter beside them."""
    from labdeck.ui.ops import ReadChannels

    reads = ReadChannels()
    release = threading.Event()
    order: list[str] = []

    def query() -> None:
        release.wait(10)
        order.append("query")

    def lowly() -> None:
        order.append("lowly starts")
        order.append(f"quiet: {reads.quiet(0.01)}")  # nothing waited for is under way

    reads.submit("query", query, lambda _r: None)
    reads.submit("orders", lowly, lambda _r: None, lowly=True)
    qtbot.wait(300)
    assert order == []  # held back while the query runs
    release.set()
    qtbot.waitUntil(lambda: reads.idle)
    assert order == ["query", "lowly starts", "quiet: True"]
    reads.shutdown()
