"""What every tab beside Runs is: a widget that shows some kinds of things, refreshes when
they change, says what its own actions changed, and may ask the window to show a run."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QWidget

from labdeck.ui.changes import Changes


class View(QWidget):
    """A tab of the main window.

    ``shows``: the kinds of things (``ui.changes``) the view shows; when a change of one of
    them is announced the view refreshes, at once if it is on screen, else when next shown.
    ``announce(kinds)``: what the view's own action changed, said to the window's ``Changes``
    (to every view, this one included; to this view alone before it is attached to one).
    ``run_requested(run id)`` asks for that run in the Runs tab (a job's run, a model
    version's source run).
    """

    run_requested = Signal(str)
    shows: frozenset[str] = frozenset()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stale = False
        self._changes: Changes | None = None

    def attach(self, changes: Changes) -> None:
        self._changes = changes
        changes.changed.connect(self.on_changes)

    def refresh(self) -> None:
        """Read again what the view shows (off the GUI thread)."""

    def announce(self, *kinds: str) -> None:
        if self._changes is not None:
            self._changes.announce(*kinds)
        elif self.shows & set(kinds):
            self.refresh()  # a view on its own: its own action shows at once

    def on_changes(self, kinds: frozenset[str]) -> None:
        if kinds & self.shows:
            self.refresh_when_shown()

    def refresh_when_shown(self) -> None:
        """Refresh now if on screen, else when next shown: a tab the user does not open reads
        nothing (nor loads the libraries its reads need, at the app's start)."""
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        if self._stale:
            self._stale = False
            self.refresh()
        super().showEvent(event)
