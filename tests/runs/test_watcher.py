"""The watcher with real file-system events (and the polling fallback)."""

from __future__ import annotations

import shutil
import time

import pytest

import labdeck
from labdeck.runs.watcher import Watcher
from tests_support import make_runs


def wait_until(predicate, timeout=10.0):
    """Wait for the condition (generous timeout: a slow CI machine is not a failure)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture(params=["events", "polling"])
def watcher(request, workspace, project):
    workspace.add_project(project)
    workspace.index()
    polling = request.param == "polling"
    w = Watcher(workspace.db, polling=polling, rescan_s=0.3 if polling else 30.0)
    w.start()
    yield w
    w.stop()


def _count(ws, run_id, key="loss"):
    try:
        return ws.run(run_id).metrics.get(key).count
    except Exception:  # noqa: BLE001 - not indexed yet
        return 0


def test_new_run_and_appended_points_reach_the_index(watcher, workspace, project):
    assert watcher.using_events == (not watcher.polling)
    run = labdeck.start_run(project, name="live", record_provenance=False)
    run.log({"loss": 1.0}, step=0)
    assert wait_until(lambda: _count(workspace, run.id) == 1)
    run.log({"loss": 0.5}, step=1)
    assert wait_until(lambda: _count(workspace, run.id) == 2)
    assert workspace.run(run.id).status == "running"
    run.end()
    assert wait_until(lambda: workspace.run(run.id).status == "finished")
    assert workspace.series(run.id)["loss"].values.tolist() == [1.0, 0.5]


def test_deleted_run_folder_leaves_the_index(watcher, workspace, project):
    (run,) = make_runs(project, 1, steps=3)
    assert wait_until(lambda: len(workspace.runs()) == 1)
    shutil.rmtree(run.dir)
    assert wait_until(lambda: len(workspace.runs()) == 0)


def test_events_are_batched(workspace, project):
    """A burst of appends costs a few index passes, not one per event."""
    workspace.add_project(project)
    passes = []
    w = Watcher(workspace.db, on_indexed=passes.append)
    w.start()
    try:
        run = labdeck.start_run(project, record_provenance=False)
        for i in range(300):
            run.log({"x": float(i)}, step=i)
        run.end()
        assert wait_until(lambda: _count(workspace, run.id, "x") == 300)
        assert wait_until(lambda: workspace.run(run.id).status == "finished")
    finally:
        w.stop()
    assert len(passes) < 100
