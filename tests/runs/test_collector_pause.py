"""The cyclic collector is paused only while a pass walks and compares (runs/collector_pause.py),
and is always left as it was found: after the pass, after a failure, and when two passes of
one process overlap."""

from __future__ import annotations

import gc
import threading

import pytest
from labdeck.runs.collector_pause import collector_paused
from labdeck.runs.readers.native import NativeReader
from tests_support import make_runs


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_pass_leaves_the_collector_as_it_found_it(workspace, project, collector_on, monkeypatch):
    make_runs(project, 5, steps=3)
    workspace.add_project(project)
    states: list[bool] = []
    real = NativeReader.fingerprint

    def fingerprint(self, source):
        states.append(gc.isenabled())
        return real(self, source)

    monkeypatch.setattr(NativeReader, "fingerprint", fingerprint)
    workspace.index()
    assert states == [False] * 5  # paused while comparing
    assert gc.isenabled()
    assert len(workspace.runs()) == 5
    gc.disable()
    workspace.index()
    assert not gc.isenabled()  # not turned on by a pass that found it off


def test_a_pass_that_fails_turns_the_collector_back_on(workspace, project, collector_on, monkeypatch):
    make_runs(project, 3, steps=3)
    workspace.add_project(project)

    def broken(self, source):
        raise RuntimeError("a reader's bug")

    monkeypatch.setattr(NativeReader, "fingerprint", broken)
    with pytest.raises(RuntimeError, match="a reader's bug"):
        workspace.index()
    assert gc.isenabled()


def test_overlapping_pauses_end_with_the_last(collector_on):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen["after the first ended"] = gc.isenabled()
        seen["after both ended"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after the first ended": False, "after both ended": True}
