"""The runs table model: holds run keys only and loads rows in pages when the view asks.

100,000 runs cost a list of ints; a row's full record is fetched (with its page) the first
time the view paints it, and dropped from the cache when the query changes.
"""

from __future__ import annotations

import math
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from labdeck.db.entities import RunInfo
from labdeck.workspace import Workspace

PAGE = 200
BASE_COLUMNS = ("name", "status", "experiment", "format", "project", "start", "duration")
HEADERS = {
    "name": "Name",
    "status": "Status",
    "experiment": "Experiment",
    "format": "Source",
    "project": "Project",
    "start": "Started",
    "duration": "Duration",
}
ROLE_RUN = Qt.ItemDataRole.UserRole + 1


def _fmt_time(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def _fmt_duration(run: RunInfo) -> str:
    if run.start_time is None or run.end_time is None:
        return ""
    s = (run.end_time - run.start_time) / 1000
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _fmt_number(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.5g}"


class RunsTableModel(QAbstractTableModel):
    def __init__(self, workspace: Workspace, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._pks: list[int] = []
        self._cache: dict[int, RunInfo] = {}
        self.extra_columns: list[str] = []  # "params.lr", "metrics.val_loss", ...

    # Data source -----------------------------------------------------------

    def set_pks(self, pks: list[int]) -> None:
        self.beginResetModel()
        self._pks = list(pks)
        self._cache.clear()
        self.endResetModel()

    def refresh_rows(self) -> None:
        """Reload the cached rows in place (live runs), keeping selection and scroll."""
        self._cache.clear()
        if self._pks:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._pks) - 1, self.columnCount() - 1))

    def set_extra_columns(self, columns: list[str]) -> None:
        self.beginResetModel()
        self.extra_columns = list(columns)
        self.endResetModel()

    def pk_at(self, row: int) -> int:
        return self._pks[row]

    def run_at(self, row: int) -> RunInfo | None:
        if not 0 <= row < len(self._pks):
            return None
        pk = self._pks[row]
        run = self._cache.get(pk)
        if run is None:
            start = row - row % PAGE
            page = self._pks[start : start + PAGE]
            for p, r in zip(page, self.workspace.runs_by_pk(page)):
                self._cache[p] = r
            run = self._cache.get(pk)
        return run

    # Qt model interface ----------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._pks)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(BASE_COLUMNS) + len(self.extra_columns)

    def column_key(self, column: int) -> str:
        if column < len(BASE_COLUMNS):
            return BASE_COLUMNS[column]
        return self.extra_columns[column - len(BASE_COLUMNS)]

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        if not 0 <= section < self.columnCount():
            return None
        key = self.column_key(section)
        return HEADERS.get(key, key)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        run = self.run_at(index.row())
        if run is None:
            return None
        if role == ROLE_RUN:
            return run.id
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return f"{run.name}\n{run.format} run {run.source_id}\n{run.project}/{run.path}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._text(run, self.column_key(index.column()))

    @staticmethod
    def _text(run: RunInfo, key: str) -> str:
        if key == "name":
            return run.name
        if key == "status":
            return run.status + (" (deleted)" if run.deleted else "")
        if key == "experiment":
            return run.experiment
        if key == "format":
            return run.format
        if key == "project":
            return run.project.rsplit("/", 1)[-1]
        if key == "start":
            return _fmt_time(run.start_time)
        if key == "duration":
            return _fmt_duration(run)
        kind, _, name = key.partition(".")
        if kind == "params":
            return run.params.get(name, "")
        if kind == "tags":
            return run.tags.get(name, "")
        if kind == "metrics":
            m = run.metrics.get(name)
            return "" if m is None else _fmt_number(m.last)
        return ""

    def sort_key_for(self, column: int) -> str:
        """The query-language sort field for a column (sorting happens in SQL)."""
        key = self.column_key(column)
        return {"start": "start_time", "duration": "end_time", "project": "project"}.get(key, key)
