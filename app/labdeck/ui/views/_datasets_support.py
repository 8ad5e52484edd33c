"""Helpers of the Datasets view: background jobs, a DataFrame table model, thumbnails, the add dialog."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    Qt,
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

if TYPE_CHECKING:
    import pandas as pd  # the frames arrive built by a worker thread; importing pandas on the
    # GUI thread when the tab is made cost 0.5 s of a frozen window at start-up

THUMB = 96


class FrameModel(QAbstractTableModel):
    """The first rows of a DataFrame, read-only."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.frame: pd.DataFrame | None = None

    def set_frame(self, frame: pd.DataFrame | None) -> None:
        self.beginResetModel()
        self.frame = frame
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() or self.frame is None else len(self.frame)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() or self.frame is None else len(self.frame.columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid() or self.frame is None:
            return None
        v = self.frame.iat[index.row(), index.column()]
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or self.frame is None:
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
