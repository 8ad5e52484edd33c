"""Keeping projects current: file-system events (watchdog), debounced and batched, with a
polling fallback for file systems that send no events (network drives, some containers).

Events only say *where* to look; the indexer's fingerprints decide what to read, so a
burst of events costs one cheap pass. Every ``rescan_s`` a full pass runs anyway, which
is the polling fallback and also catches anything an event queue dropped.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from labdeck.db.engine import Database
from labdeck.db.projects import project_rows
from labdeck.runs.index_stats import IndexStats
from labdeck.runs.indexer import index_project
from labdeck.runs.walk import SKIP_NAMES
from labdeck.tasks import Task

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.05  # wait this long after the last event before indexing
MAX_DELAY_S = 0.5  # ...but never longer than this after the first one
# Beyond this many changed folders in one batch, walk from the project root instead.
MAX_TARGETS = 64


class _Collector(FileSystemEventHandler):
    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads, not changes
        for attr in ("src_path", "dest_path"):
            path = getattr(event, attr, "")
            if path:
                self.sink(os.fsdecode(path))


class Watcher:
    """Watches every registered project and indexes what changes, on its own thread."""

    def __init__(
        self,
        db: Database,
        *,
        polling: bool = False,
        rescan_s: float = 30.0,
        on_indexed: Callable[[IndexStats], None] | None = None,
    ) -> None:
        self.db = db
        self.polling = polling
        self.rescan_s = rescan_s
        self.on_indexed = on_indexed
        self._pending: set[str] = set()
        self._first_event = 0.0
        self._last_event = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._task = Task()  # cancelled by stop(): a pass under way ends early, forgetting nothing
        self._observer = None
        self._thread: threading.Thread | None = None
        self._projects: list[str] = []
        self.using_events = False

    # Life cycle ----------------------------------------------------------

    def start(self) -> None:
        self._projects = self._load_projects()
        self._observer = self._make_observer()
        self._thread = threading.Thread(target=self._loop, name="labdeck-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._task.cancel()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def refresh_projects(self) -> None:
        """Call after projects were added or removed."""
        with self._lock:
            self._pending.add("*")
            self._first_event = self._first_event or time.monotonic()
            self._last_event = time.monotonic()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        self._projects = self._load_projects()
        self._observer = self._make_observer()
        self._wake.set()

    def _load_projects(self) -> list[str]:
        with self.db.read() as session:
            return [path for _, path in project_rows(session)]

    def _make_observer(self):
        if self.polling:
            self.using_events = False
            return None
        observer = Observer()
        handler = _Collector(self._note)
        try:
            for project in self._projects:
                if os.path.isdir(project):
                    observer.schedule(handler, project, recursive=True)
            observer.start()
        except OSError as exc:
            # e.g. inotify watch limit reached: fall back to polling by rescans.
            log.warning("file-system events unavailable (%s); polling every %.0f s", exc, self.rescan_s)
            self.using_events = False
            self.rescan_s = min(self.rescan_s, 2.0)
            return None
        self.using_events = True
        return observer

    # Events --------------------------------------------------------------

    def _note(self, path: str) -> None:
        parts = Path(path).parts
        if any(p in SKIP_NAMES for p in parts):
            return
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._first_event = now
            self._pending.add(path)
            self._last_event = now
        self._wake.set()

    def _take_batch(self) -> set[str] | None:
        """The pending paths once events have settled (or waited long enough)."""
        with self._lock:
            if not self._pending:
                return None
            now = time.monotonic()
            if now - self._last_event < DEBOUNCE_S and now - self._first_event < MAX_DELAY_S:
                return None
            batch, self._pending = self._pending, set()
            return batch

    def _loop(self) -> None:
        next_rescan = time.monotonic() + self.rescan_s
        while not self._stop.is_set():
            self._wake.wait(timeout=DEBOUNCE_S if self._pending else min(self.rescan_s, 1.0))
            self._wake.clear()
            if self._stop.is_set():
                break
            batch = self._take_batch()
            try:
                if batch:
                    self._index_batch(batch)
                if time.monotonic() >= next_rescan:
                    next_rescan = time.monotonic() + self.rescan_s
                    self._index_batch({"*"})
            except Exception:  # noqa: BLE001 - the watcher must outlive any single failure
                log.exception("indexing after a change failed")

    def _index_batch(self, paths: set[str]) -> None:
        for project, starts in self._targets(paths).items():
            if self._stop.is_set():
                return
            whole = None in starts
            stats = index_project(
                self.db, project, task=self._task, starts=None if whole else [s for s in starts if s]
            )
            if self.on_indexed is not None and (stats.read or stats.forgotten):
                self.on_indexed(stats)

    def _targets(self, paths: set[str]) -> dict[str, list[Path | None]]:
        """For each project, the folders to walk again (None = the whole project)."""
        if "*" in paths:
            return {p: [None] for p in self._projects}
        targets: dict[str, set[Path]] = {}
        for path in paths:
            project = next((p for p in self._projects if path == p or path.startswith(p + os.sep)), None)
            if project is None:
                continue
            folder = Path(path)
            # Walk from the nearest folder that still exists (a deleted run's parent).
            while not folder.is_dir() and str(folder) != project:
                folder = folder.parent
            targets.setdefault(project, set()).add(folder)
        out: dict[str, list[Path | None]] = {}
        for project, folders in targets.items():
            outer = _outermost(folders)
            out[project] = [None] if len(outer) > MAX_TARGETS else [*sorted(outer)]
        return out


def _outermost(folders: set[Path]) -> set[Path]:
    """Drop folders that lie inside another folder of the set."""
    kept: set[Path] = set()
    for f in sorted(folders, key=lambda p: len(p.parts)):
        if not any(k == f or k in f.parents for k in kept):
            kept.add(f)
    return kept
