"""Indexing off the GUI thread: one-shot passes with progress and cancel, and the watcher."""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal

from labdeck.runs.watcher import Watcher
from labdeck.tasks import Progress, Task
from labdeck.workspace import Workspace


class _IndexThread(QThread):
    progressed = Signal(int, int, str)
    finished_with = Signal(object)  # IndexStats or an Exception

    def __init__(self, workspace: Workspace, path: str | None, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.path = path
        self.task = Task(self._relay)

    def _relay(self, p: Progress) -> None:
        self.progressed.emit(p.done, p.total or 0, p.message)

    def run(self) -> None:
        try:
            self.finished_with.emit(self.workspace.index(self.path, self.task))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never lost in the thread
            self.finished_with.emit(exc)


class IndexingService(QObject):
    """Owns background indexing. Signals arrive on the GUI thread (queued connections)."""

    progressed = Signal(int, int, str)
    pass_finished = Signal(object)
    changed = Signal()  # the watcher indexed something new
    busy_changed = Signal(bool)

    def __init__(self, workspace: Workspace, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._thread: _IndexThread | None = None
        self._queue: list[str | None] = []
        self.watcher: Watcher | None = None
        self._watch_signal = _WatchRelay()
        self._watch_signal.indexed.connect(self.changed)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def index(self, path: str | None = None) -> None:
        if self._thread is not None:
            if path not in self._queue:
                self._queue.append(path)
            return
        thread = _IndexThread(self.workspace, path, self)
        thread.progressed.connect(self.progressed)
        thread.finished_with.connect(self._done)
        self._thread = thread
        self.busy_changed.emit(True)
        thread.start()

    def cancel(self) -> None:
        self._queue.clear()
        if self._thread is not None:
            self._thread.task.cancel()

    def _done(self, result) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        self.pass_finished.emit(result)
        if self._queue:
            self.index(self._queue.pop(0))
        else:
            self.busy_changed.emit(False)

    def start_watching(self, *, polling: bool = False) -> None:
        self.watcher = self.workspace.watcher(
            polling=polling,
            on_indexed=lambda _s: self._watch_signal.indexed.emit(),
        )
        self.watcher.start()

    def projects_changed(self) -> None:
        if self.watcher is not None:
            self.watcher.refresh_projects()

    def shutdown(self) -> None:
        self.cancel()
        if self._thread is not None:
            self._thread.wait(10_000)
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None


class _WatchRelay(QObject):
    """Carries the watcher thread's callback onto the GUI thread."""

    indexed = Signal()
