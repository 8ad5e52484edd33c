"""Pausing Python's cyclic garbage collector while a pass builds what it keeps to its end.

A pass's walk and fingerprints make a few tracked objects for every run (its source, the
pair that names its reader, its stored state) and keep them all to the pass's end. At
10,000 runs they outnumber a quarter of the process's long-lived objects, the collector's
cue for a full collection: one each unchanged rescan, 74–89 ms of about 450. None of these
objects is part of a cycle, so the collector has nothing to find among them; paused while
they are made, it never promotes them, and refcounting frees them when the pass lets go.

Only the bounded part of a pass is run paused (walking, stating, comparing): reading the
changed sources, which may build cycles (exceptions and their tracebacks), runs with the
collector on, so memory stays bounded however long a cold index takes."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False  # whether the collector was on when the outermost pause began


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the block; nested or concurrent pauses (two threads of one
    process) turn it back on when the last one ends, and only if it was on before."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
