"""What every tab beside Runs is: a widget that may ask the window to show a run."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class View(QWidget):
    """A tab of the main window. ``run_requested(run id)`` asks for that run in the Runs tab
    (a job's run, a model version's source run); views that link to no run never emit it."""

    run_requested = Signal(str)
