"""The indexer process (runs.index_process, driven by runs.index_client): the app's passes and
its watcher run there. What it builds must equal a pass in this process; a cancel, a kill or
the app going away mid-pass must lose and double nothing."""

from __future__ import annotations

import os
import queue
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from reliability.index_dump import dump
from tests_support import make_runs

import labdeck
from labdeck.runs.index_client import IndexProcess
from labdeck.workspace import Workspace


class Indexer:
    """An IndexProcess with its events in a queue."""

    def __init__(self, index: Path) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.process = IndexProcess(index, self.events.put)

    def next(self, *kinds: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """The next event of one of ``kinds`` (others skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["event"] in kinds:
                return event


@pytest.fixture
def indexed(tmp_path, project):
    """A project of 120 runs added (not indexed) to an index, and the indexer over it."""
    make_runs(project, 120, steps=40)
    index = tmp_path / "index.sqlite"
    ws = Workspace(index)
    ws.add_project(project)
    ws.close()
    indexer = Indexer(index)
    yield index, indexer
    indexer.process.stop()


def _clean(tmp_path: Path, project: Path) -> dict:
    """What a pass in this process makes of ``project``, on an index of its own."""
    clean = tmp_path / "clean.sqlite"
    ws = Workspace(clean)
    ws.add_project(project)
    ws.index()
    ws.close()
    return dump(clean)


def test_a_pass_in_the_indexer_equals_a_pass_here_and_reports_progress(indexed, tmp_path, project):
    index, indexer = indexed
    indexer.process.send({"op": "index", "path": None})
    seen = [indexer.next("progress", "finished", "failed")]
    while seen[-1]["event"] == "progress":
        seen.append(indexer.next("progress", "finished", "failed"))
    *progress, finished = seen
    assert progress and all(0 <= p["done"] <= p["total"] == 120 for p in progress if p["total"])
    assert any(p["total"] == 120 for p in progress)
    assert finished["event"] == "finished", finished
    clean = _clean(tmp_path, project)
    points = sum(len(steps) for run in clean.values() for steps, _values, _walls in run["series"].values())
    assert finished["stats"]["runs"] == 120 and finished["stats"]["points"] == points
    assert indexer.process.pid is not None and indexer.process.pid != os.getpid()
    assert dump(index) == clean


def test_a_cancelled_pass_then_a_whole_one_lose_and_double_nothing(indexed, tmp_path, project):
    index, indexer = indexed
    indexer.process.send({"op": "index", "path": None})
    indexer.next("progress")
    indexer.process.send({"op": "cancel"})
    ended = indexer.next("finished", "failed")
    assert ended.get("cancelled") or ended.get("stats", {}).get("cancelled") or ended["event"] == "finished"
    indexer.process.send({"op": "index", "path": None})
    assert indexer.next("finished", "failed")["event"] == "finished"
    assert dump(index) == _clean(tmp_path, project)


def test_an_indexer_killed_mid_pass_is_reported_and_the_next_pass_completes_the_index(indexed, tmp_path, project):
    index, indexer = indexed
    indexer.process.send({"op": "index", "path": None})
    indexer.next("progress")
    first = indexer.process.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    gone = indexer.next("gone")
    assert gone["code"] == -signal.SIGKILL
    indexer.process.send({"op": "index", "path": None})  # a new indexer
    assert indexer.next("finished", "failed")["event"] == "finished"
    assert indexer.process.pid not in (None, first)
    assert dump(index) == _clean(tmp_path, project)


def test_the_watcher_runs_in_the_indexer_and_says_when_it_indexed(indexed, project):
    index, indexer = indexed
    indexer.process.send({"op": "index", "path": None})
    indexer.next("finished")
    indexer.process.send({"op": "watch", "polling": False})
    indexer.next("watching")
    with labdeck.start_run(project, name="late", record_provenance=False) as run:
        run.log({"loss": 0.25}, step=0)
    indexer.next("changed")
    ws = Workspace(index)
    try:
        assert "late" in {r.name for r in ws.runs()}
    finally:
        ws.close()


def test_the_indexer_stops_when_the_app_goes_without_a_word(indexed):
    """The app killed: its end of the requests pipe closes, and the indexer ends its pass
    (keeping what it wrote) and exits rather than index on alone."""
    index, indexer = indexed
    indexer.process.send({"op": "index", "path": None})
    indexer.next("progress")
    pid = indexer.process.pid
    assert pid is not None
    indexer.process._requests.close()  # what the kernel does to a killed app's pipe ends
    indexer.next("gone", timeout_s=30)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_indexer_that_cannot_start_says_why(tmp_path):
    """An index the indexer cannot open (here a folder where the file should be): the process
    ends, and its "gone" carries the last line it wrote, the error, for the app to show."""
    folder = tmp_path / "not-a-file.sqlite"
    folder.mkdir()
    indexer = Indexer(folder)
    try:
        indexer.process.send({"op": "index", "path": None})
        gone = indexer.next("gone", timeout_s=60)
    finally:
        indexer.process.stop()
    assert gone["code"] != 0
    assert "not-a-file.sqlite" in gone["reason"] or "Error" in gone["reason"], gone["reason"]
