"""Points read from an MLflow SQLite store, kept while the store is unchanged.

MLflow's points stay in ``mlflow.db`` and are read on demand; a plot redrawn, a run added to
a comparison or a second chart asks for the same series again. Each entry is kept with the
store's state when it was read: the size and modification time of ``mlflow.db`` and of its
``-wal`` (every commit changes one of them: WAL mode appends to the ``-wal``, other journal
modes rewrite the main file) and the largest metric rowid. Any difference drops every entry
of that store, so an appended step, a deleted run or a restored backup is read afresh.
Bounded by points held (least recently used first out).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from labdeck.db.entities import Series

MAX_POINTS = 5_000_000  # about 120 MB of steps, values and wall times

StoreState = tuple


def file_state(db: Path) -> StoreState:
    """What changes on every commit to ``db`` (files only: the caller adds the max rowid)."""
    out: list[tuple[int, int, int] | None] = []
    for path in (db, Path(f"{db}-wal")):
        try:
            st = os.stat(path)
            out.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class PointsCache:
    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self._lock = threading.Lock()  # the app reads series from several worker threads
        self._states: dict[str, StoreState] = {}
        self._entries: OrderedDict[tuple, dict[str, Series]] = OrderedDict()
        self._points = 0

    def get(self, db: str, state: StoreState, run_id: str, keys: tuple[str, ...] | None) -> dict[str, Series] | None:
        with self._lock:
            if self._states.get(db) != state:
                self._drop_store(db)
                self._states[db] = state
                return None
            entry = self._entries.get((db, run_id, keys))
            if entry is not None:
                self._entries.move_to_end((db, run_id, keys))
            return entry

    def put(self, db: str, state: StoreState, run_id: str, keys: tuple[str, ...] | None,
            series: dict[str, Series]) -> None:
        size = sum(len(s.steps) for s in series.values())
        if size > self.max_points:
            return
        with self._lock:
            if self._states.get(db) != state:
                return  # the store changed while this was read: not worth keeping
            old = self._entries.pop((db, run_id, keys), None)
            if old is not None:
                self._points -= sum(len(s.steps) for s in old.values())
            self._entries[(db, run_id, keys)] = series
            self._points += size
            while self._points > self.max_points and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self._points -= sum(len(s.steps) for s in dropped.values())

    def clear(self) -> None:
        with self._lock:
            self._states.clear()
            self._entries.clear()
            self._points = 0

    def _drop_store(self, db: str) -> None:
        for key in [k for k in self._entries if k[0] == db]:
            self._points -= sum(len(s.steps) for s in self._entries.pop(key).values())


CACHE = PointsCache()
