"""Indexing beside the app, in the indexer process (``runs.index_process``): one-shot passes
with progress and cancel, and the watcher.

Passes run one at a time; a pass asked for while one runs waits in a queue (each project
once). The indexer's news arrive on a thread of the client's and are posted to the GUI
thread, where the signals below are emitted. The indexer starts at the first request, so a
window that never indexes starts none.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from labdeck.runs.index_client import IndexProcess
from labdeck.runs.index_stats import IndexStats
from labdeck.tasks import Cancelled
from labdeck.ui import ops
from labdeck.workspace import Workspace

# A watcher whose process ended unexpectedly is started again, unless the process had run
# for less than this: a watcher that cannot run must not start a process after process.
RESTART_AFTER_S = 30.0


class IndexFailed(Exception):
    """An index pass, or the watcher, failed in the indexer process (the message says why)."""


class IndexingService(QObject):
    """Owns background indexing. Signals arrive on the GUI thread."""

    progressed = Signal(int, int, str)
    pass_finished = Signal(object)  # IndexStats, an Exception, or tasks.Cancelled
    changed = Signal()  # the watcher indexed something new
    busy_changed = Signal(bool)

    def __init__(self, workspace: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._post = ops.poster(self)
        self._process = IndexProcess(workspace.db.path, lambda event: self._post(lambda: self._heard(event)))
        # Operations waiting for the one under way: ("index", project or None) or ("watch", polling).
        self._queue: list[tuple[str, Any]] = []
        self._current: tuple[str, Any] | None = None
        self.watching = False  # the indexer's watcher runs
        self._watch_polling: bool | None = None  # how the watcher was asked to run, once asked

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def indexer_pid(self) -> int | None:
        """The indexer process's id while it runs."""
        return self._process.pid

    def index(self, path: str | None = None) -> None:
        """Index ``path`` (None: every project) now, or after the operation under way."""
        self._start(("index", path))

    def start_watching(self, *, polling: bool = False) -> None:
        """Start the watcher in the indexer process: it lists the projects and sets up a watch
        on every folder under them, and indexes what changes."""
        self._watch_polling = polling
        self._start(("watch", polling))

    def _start(self, op: tuple[str, Any]) -> None:
        if self.busy:
            if op not in self._queue:
                self._queue.append(op)
            return
        kind, arg = op
        self._current = op
        self.busy_changed.emit(True)
        try:
            if kind == "index":
                self._process.send({"op": "index", "path": arg})
            else:
                self._process.send({"op": "watch", "polling": arg})
        except OSError as exc:  # the indexer could not be started
            self._ended(IndexFailed(f"the indexer could not start: {exc}"))

    def _heard(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "progress":
            self.progressed.emit(int(event["done"]), int(event["total"]), str(event["message"]))
        elif kind == "changed":
            self.changed.emit()
        elif kind == "finished":
            self._ended(IndexStats(**event["stats"]))
        elif kind == "failed":
            self._ended(Cancelled() if event.get("cancelled") else IndexFailed(event.get("error", "")))
        elif kind == "watching":
            self.watching = True
            self._ended(None)
        elif kind == "gone" and event.get("pid") == self._process.pid:
            # (Not a process a request has already replaced: its operation is not this one.)
            self._gone(event.get("code"), str(event.get("reason") or ""))

    def _ended(self, result: object) -> None:
        """The operation under way ended with ``result`` (None: the watcher started)."""
        if self._current is None:
            return
        self._current = None
        if result is not None:
            self.pass_finished.emit(result)
        self._next()

    def _gone(self, code: Any, reason: str) -> None:
        was_watching, self.watching = self.watching, False
        lived_s = time.monotonic() - self._process.started_at
        if was_watching and self._watch_polling is not None and lived_s >= RESTART_AFTER_S:
            self._queue.insert(0, ("watch", self._watch_polling))
        if self._current is not None:
            said = f": {reason}" if reason else ""
            self._ended(IndexFailed(f"the indexer process ended unexpectedly (exit code {code}){said}. "
                                    "What it wrote is kept, and the next pass goes on from there."))
        elif self._queue:
            self._next()
        else:
            self.busy_changed.emit(False)  # the status line says the watcher stopped

    def cancel(self) -> None:
        self._queue.clear()
        if self._current is not None and self._current[0] == "index":
            try:
                self._process.send({"op": "cancel"})
            except OSError:
                pass  # the indexer is gone: its end comes as "gone"

    def _next(self) -> None:
        if self._queue:
            self._start(self._queue.pop(0))
        else:
            self.busy_changed.emit(False)

    def projects_changed(self) -> None:
        if self.watching:
            self._process.send({"op": "projects"})

    def shutdown(self) -> None:
        """Cancel the pass under way, stop the watcher and the indexer, and wait for them."""
        self._queue.clear()
        self._watch_polling = None
        self._process.stop()
        self._current = None
        self.watching = False
