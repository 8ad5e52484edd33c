"""The runs table model: holds run keys only and loads rows in pages when the view asks.

100,000 runs cost a list of ints; a row's full record is fetched (with its page of 200) the
first time the view paints it. The fetch runs on a worker thread: until the page arrives the
row shows a placeholder, then ``dataChanged`` repaints it. ``data()`` never touches SQLite.
Live refreshes re-fetch the loaded pages while the old values stay on screen (no flicker).
"""

from __future__ import annotations

import math
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from labdeck.db.entities import RunInfo
from labdeck.ui.background import Background
from labdeck.ui.store import RunStore

PAGE = 200
BASE_COLUMNS = (
    "name",
    "status",
    "experiment",
    "format",
    "project",
    "start",
    "duration",
)
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
PLACEHOLDER = "…"
_ROOT = QModelIndex()  # the invisible root: a table has no children
STATUS_COLOURS = {"running": "#2e86de", "failed": "#c0392b", "killed": "#d35400"}


def _fmt_time(ms: int | None) -> str:
    return (
        ""
        if ms is None
        else datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")
    )


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
    def __init__(self, store: RunStore, background: Background, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.background = background
        self._pks: list[int] = []
        self._rows: dict[int, int] = {}  # pk -> row
        self._cache: dict[int, RunInfo] = {}
        self._requested: set[int] = set()  # first rows of pages asked for
        self.extra_columns: list[str] = []  # "params.lr", "metrics.val_loss", ...

    # Data source -----------------------------------------------------------

    @property
    def pks(self) -> list[int]:
        return self._pks

    def set_pks(self, pks: list[int]) -> None:
        self.beginResetModel()
        self._pks = list(pks)
        self._rows = {pk: row for row, pk in enumerate(self._pks)}
        # Keep what is loaded for rows still present: their values are shown at once.
        keep = set(self._pks)
        self._cache = {pk: run for pk, run in self._cache.items() if pk in keep}
        self._requested.clear()
        self.background.invalidate("page")
        self.endResetModel()

    def refresh_rows(self) -> None:
        """Re-fetch every loaded page (live runs); old values stay until new ones arrive."""
        starts = sorted(
            {
                self._rows[pk] - self._rows[pk] % PAGE
                for pk in self._cache
                if pk in self._rows
            }
        )
        self._requested.clear()
        self.background.invalidate("page")
        for start in starts:
            self._request(start)

    def set_extra_columns(self, columns: list[str]) -> None:
        self.beginResetModel()
        self.extra_columns = list(columns)
        self.endResetModel()

    def row_of(self, pk: int) -> int | None:
        return self._rows.get(pk)

    def pk_at(self, row: int) -> int:
        return self._pks[row]

    def is_loaded(self, row: int) -> bool:
        return 0 <= row < len(self._pks) and self._pks[row] in self._cache

    def run_at(self, row: int) -> RunInfo | None:
        """The row's run if its page has arrived (else None, and the page is asked for)."""
        if not 0 <= row < len(self._pks):
            return None
        run = self._cache.get(self._pks[row])
        if run is None:
            self._request(row - row % PAGE)
        return run

    def _request(self, start: int) -> None:
        if start in self._requested:
            return
        self._requested.add(start)
        page = self._pks[start : start + PAGE]
        self.background.submit(
            "page",
            lambda: self.store.runs_keyed(page),
            lambda runs: self._arrived(runs),
            exclusive=False,
        )

    def _arrived(self, runs: dict[int, RunInfo]) -> None:
        # Rows may have moved since the request: place each run by its key, not its old row.
        rows = []
        for pk, run in runs.items():
            if pk in self._rows:
                self._cache[pk] = run
                rows.append(self._rows[pk])
        if rows and self.columnCount():
            self.dataChanged.emit(
                self.index(min(rows), 0), self.index(max(rows), self.columnCount() - 1)
            )

    # Qt model interface ----------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._pks)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(BASE_COLUMNS) + len(self.extra_columns)

    def column_key(self, column: int) -> str:
        if column < len(BASE_COLUMNS):
            return BASE_COLUMNS[column]
        return self.extra_columns[column - len(BASE_COLUMNS)]

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ):
        if (
            role != Qt.ItemDataRole.DisplayRole
            or orientation != Qt.Orientation.Horizontal
        ):
            return None
        if not 0 <= section < self.columnCount():
            return None
        key = self.column_key(section)
        return HEADERS.get(key, key)

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ):
        if not index.isValid():
            return None
        run = self.run_at(index.row())
        if run is None:
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
        if role == ROLE_RUN:
            return run.id
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return f"{run.name}\n{run.format} run {run.source_id}\n{run.project}/{run.path}"
        key = self.column_key(index.column())
        if role == Qt.ItemDataRole.ForegroundRole and key == "status":
            colour = STATUS_COLOURS.get(run.status)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.TextAlignmentRole and key.startswith(
            ("metrics.", "params.")
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._text(run, key)

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
