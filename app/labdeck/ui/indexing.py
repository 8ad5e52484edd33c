"""Indexing off the GUI thread: one-shot passes with progress and cancel, and the watcher.

Passes run one at a time through the app's one op runner (``ops.OpRunner``); a pass asked
for while one runs waits in a queue (each project once). The watcher runs on its own thread
(watchdog's) and says "indexed something" through ``ops.poster``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from labdeck.ui import ops
from labdeck.workspace import Workspace

if TYPE_CHECKING:
    from labdeck.runs.watcher import Watcher


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
        # Operations waiting for the one under way: ("index", project or None) or ("watch", polling).
        self._queue: list[tuple[str, Any]] = []
        self.watcher: Watcher | None = None
        self._post = ops.poster(self)

    @property
    def busy(self) -> bool:
        return self._runner.busy

    def index(self, path: str | None = None) -> None:
        """Index ``path`` (None: every project) now, or after the operation under way."""
        self._start(("index", path))

    def start_watching(self, *, polling: bool = False) -> None:
        """Start the watcher, on the runner's thread: it lists the projects and sets up a
        watch on every folder under them, and its module loads the readers (SQLAlchemy,
        pandas): none of it on the GUI thread."""
        self._start(("watch", polling))

    def _start(self, op: tuple[str, Any]) -> None:
        if self._runner.busy:
            if op not in self._queue:
                self._queue.append(op)
            return
        kind, arg = op
        if kind == "index":
            self._runner.run(lambda task: self.workspace.index(arg, task), self._done)
        else:
            self._runner.run(lambda _task: self._watch(polling=arg), self._watching)
        self.busy_changed.emit(True)

    def _watch(self, *, polling: bool) -> Watcher:
        watcher = self.workspace.watcher(polling=polling, on_indexed=lambda _stats: self._post(self.changed.emit))
        watcher.start()
        # Kept here too, not only by the callback: a window closed meanwhile drops the callback,
        # and shutdown (after joining this thread) must still find the watcher to stop it.
        self.watcher = watcher
        return watcher

    def cancel(self) -> None:
        self._queue.clear()
        self._runner.cancel()

    def _done(self, result: Any) -> None:
        self.pass_finished.emit(result)
        self._next()

    def _watching(self, result: Any) -> None:
        if isinstance(result, BaseException):
            self.pass_finished.emit(result)  # shown as a failed pass: the user sees why
        else:
            self.watcher = result
        self._next()

    def _next(self) -> None:
        if self._queue:
            self._start(self._queue.pop(0))
        else:
            self.busy_changed.emit(False)

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
