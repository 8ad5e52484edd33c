"""Indexing off the GUI thread: one-shot passes with progress and cancel, and the watcher.

Passes run one at a time through the app's one op runner (``ops.OpRunner``); a pass asked
for while one runs waits in a queue (each project once). The watcher runs on its own thread
(watchdog's) and says "indexed something" through ``ops.poster``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from labdeck.runs.watcher import Watcher
from labdeck.ui import ops
from labdeck.workspace import Workspace


class IndexingService(QObject):
    """Owns background indexing. Signals arrive on the GUI thread."""

    progressed = Signal(int, int, str)
    pass_finished = Signal(object)  # IndexStats, an Exception, or tasks.Cancelled
    changed = Signal()  # the watcher indexed something new
    busy_changed = Signal(bool)

    def __init__(self, workspace: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._runner = ops.OpRunner(self, "index")
        self._runner.progressed.connect(self.progressed)
        self._queue: list[str | None] = []
        self.watcher: Watcher | None = None
        self._post = ops.poster(self)

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def index(self, path: str | None = None) -> None:
        """Index ``path`` (None: every project) now, or after the pass under way."""
        if self._runner.busy:
            if path not in self._queue:
                self._queue.append(path)
            return
        self._runner.run(lambda task: self.workspace.index(path, task), self._done)
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        self._queue.clear()
        self._runner.cancel()

    def _done(self, result: Any) -> None:
        self.pass_finished.emit(result)
        if self._queue:
            self.index(self._queue.pop(0))
        else:
            self.busy_changed.emit(False)

    def start_watching(self, *, polling: bool = False) -> None:
        self.watcher = self.workspace.watcher(
            polling=polling,
            on_indexed=lambda _stats: self._post(self.changed.emit),
        )
        self.watcher.start()

    def projects_changed(self) -> None:
        if self.watcher is not None:
            self.watcher.refresh_projects()

    def shutdown(self) -> None:
        """Cancel the pass under way and wait for it; stop the watcher."""
        self.cancel()
        self._runner.shutdown()
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
