"""What changed, said once: after an operation, an index pass or a live update, one
notification names the kinds of things it changed, and each part of the window refreshes only
if it shows them (a hidden view refreshes when it is next shown).

Announcements made in one turn of the event loop are merged into one notification: an index
pass that finds runs and registered models is one refresh of each view, not two.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

RUNS = "runs"
PROJECTS = "projects"
DATASETS = "datasets"
MODELS = "models"
JOBS = "jobs"
KINDS = frozenset({RUNS, PROJECTS, DATASETS, MODELS, JOBS})


class Changes(QObject):
    changed = Signal(object)  # a frozenset of KINDS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._flush)

    def announce(self, *kinds: str) -> None:
        unknown = set(kinds) - KINDS
        if unknown:
            raise ValueError(f"unknown kinds of change: {sorted(unknown)}")
        self._pending.update(kinds)
        self._timer.start()

    def _flush(self) -> None:
        kinds, self._pending = frozenset(self._pending), set()
        if kinds:
            self.changed.emit(kinds)
