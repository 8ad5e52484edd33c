"""Helpers of the Datasets view: background jobs, a DataFrame table model, thumbnails, the add dialog."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    Qt,
    QThread,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTreeWidget,
)

from labdeck.tasks import Progress, Task

THUMB = 96


class _JobThread(QThread):
    progressed = Signal(int, int, str)
    finished_with = Signal(object, object)  # this thread, and the result or the Exception raised

    def __init__(self, fn: Callable[[Task], Any], parent=None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.task = Task(self._relay)

    def _relay(self, p: Progress) -> None:
        self.progressed.emit(p.done, p.total or 0, p.message)

    def run(self) -> None:
        try:
            self.finished_with.emit(self, self.fn(self.task))
        except BaseException as exc:  # noqa: BLE001 - shown to the user, never lost in the thread
            self.finished_with.emit(self, exc)


class Jobs(QObject):
    """Runs callables off the GUI thread; ``on_done`` is called on the GUI thread.

    Results arrive through a slot of this object, not a lambda: Qt then drops a result still
    queued when this object is destroyed. A lambda's receiver outlived the view and, about one
    test run in three, called into freed memory (a segfault seen under gdb in Qt's event
    dispatch).
    """

    busy_changed = Signal(bool)
    progressed = Signal(int, int, str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._threads: dict[_JobThread, Callable[[Any], None]] = {}  # running -> its on_done
        self._closed = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)  # no thread may outlive the application

    @property
    def busy(self) -> bool:
        return bool(self._threads)

    def start(self, fn: Callable[[Task], Any], on_done: Callable[[Any], None]) -> _JobThread:
        thread = _JobThread(fn, self)
        thread.progressed.connect(self.progressed)
        thread.finished_with.connect(self._done)
        self._threads[thread] = on_done
        self.busy_changed.emit(True)
        thread.start()
        return thread

    @Slot(object, object)
    def _done(self, thread: _JobThread, result: Any) -> None:
        on_done = self._threads.pop(thread, None)
        if self._closed or on_done is None:
            return  # queued before shutdown: the view is closing or gone, the result goes nowhere
        thread.wait()
        thread.deleteLater()
        if not self._threads:
            self.busy_changed.emit(False)
        on_done(result)

    def cancel_all(self) -> None:
        for t in self._threads:
            t.task.cancel()

    def shutdown(self) -> None:
        """Cancel and wait for every job; results still queued for the GUI thread are dropped."""
        self._closed = True
        self.cancel_all()
        for t in list(self._threads):
            t.wait(10_000)
        self._threads.clear()


class FrameModel(QAbstractTableModel):
    """The first rows of a DataFrame, read-only."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.frame = pd.DataFrame()

    def set_frame(self, frame: pd.DataFrame) -> None:
        self.beginResetModel()
        self.frame = frame
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.frame)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.frame.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        v = self.frame.iat[index.row(), index.column()]
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self.frame.columns[section]) if section < len(self.frame.columns) else None
        return str(section + 1)


class AddDialog(QDialog):
    """Asks for the dataset name of a dropped path, offering the dataset it matches."""

    def __init__(self, path: str, names: list[str], suggestion: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add dataset version")
        self.path = path
        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.addItems(names)
        self.name.setCurrentText(suggestion)
        self.message = QLineEdit()
        form = QFormLayout(self)
        form.addRow("Path", QLabel(path))
        form.addRow("Dataset", self.name)
        form.addRow("Message", self.message)
        hint = "adds a new version of it" if suggestion in names else "creates a new dataset"
        self.hint = QLabel(hint)
        self.name.currentTextChanged.connect(
            lambda t: self.hint.setText("adds a new version of it" if t in names else "creates a new dataset")
        )
        form.addRow("", self.hint)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)


def fit_columns(tree: QTreeWidget) -> None:
    for c in range(tree.columnCount()):
        tree.resizeColumnToContents(c)


def default_name(path: str) -> str:
    stem = Path(path).name if Path(path).is_dir() else Path(path).stem
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip("-._")
    return cleaned or "dataset"


def when(ms: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def short(v) -> str:
    if v is None:
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)  # in full: the column elides if it must
