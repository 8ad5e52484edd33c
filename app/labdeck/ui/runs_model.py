"""The runs table model: holds run keys only and loads rows in pages when the view asks.

100,000 runs cost a list of ints; a row's full record is fetched (with its page of 200) the
first time the view paints it. The fetch runs on a worker thread: until the page arrives the
row shows a placeholder, then ``dataChanged`` repaints it. ``data()`` never touches SQLite.
Live refreshes re-fetch the loaded pages while the old values stay on screen (no flicker).

Two levels at most (a ``RunTree``): groups with their runs, or parent runs with their
nested runs. A child index carries its top-level row + 1 as its internal id.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont

from labdeck.db.entities import RunInfo
from labdeck.ui.ops import ReadChannels
from labdeck.ui.numbers import format_number
from labdeck.runs.table_shape import RunTree, flat
from labdeck.run_reads import RunReads

PAGE = 200
# Runs kept loaded, at most: the pages on screen and those seen last. A new listing keeps the
# loaded runs it still lists (shown at once) by walking them on the GUI thread, and a live
# refresh reads their pages again: unbounded, after a day of sorting 100,000 runs, that walk
# took 45 ms a listing and a refresh read 340 pages.
MAX_LOADED = 5000
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


class RunsTableModel(QAbstractItemModel):
    def __init__(self, store: RunReads, background: ReadChannels, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.background = background
        self._pks: list[int] = []
        self._rows: dict[int, int] = {}  # pk -> position in the query's order (paging)
        self.tree: RunTree = flat([])
        self._cache: dict[int, RunInfo] = {}
        self._requested: set[int] = set()  # first rows of pages asked for
        self.extra_columns: list[str] = []  # "params.lr", "metrics.val_loss", ...
        self.row_height = 0  # px; 0: the view's own
        # group node -> metric -> (mean, runs with a value): group rows' aggregates, read in
        # SQL over all of a group's runs (run_reads.py) whenever the groups or columns change.
        self._group_means: dict[int, dict[str, tuple[float, int]]] = {}

    # Data source -----------------------------------------------------------

    @property
    def pks(self) -> list[int]:
        return self._pks

    def set_pks(self, pks: list[int]) -> None:
        self.set_tree(flat(pks))

    def set_tree(self, tree: RunTree, first_rows: dict[int, RunInfo] | None = None) -> None:
        """Show ``tree``; ``first_rows``: the runs of its first page, read with it."""
        self.beginResetModel()
        self.tree = tree.prepared()  # built on the worker thread already when it came from there
        self._pks = tree.pks
        self._rows = tree.rows
        # Keep what is loaded for rows still present: their values are shown at once.
        rows = self._rows
        self._cache = {pk: run for pk, run in self._cache.items() if pk in rows}
        self._requested.clear()
        self.background.invalidate("page")
        self._take_first_rows(first_rows)
        self.endResetModel()
        self._request_group_means()

    @property
    def metric_columns(self) -> tuple[str, ...]:
        """The metrics shown as columns ("loss" for "metrics.loss")."""
        return tuple(c.split(".", 1)[1] for c in self.extra_columns if c.startswith("metrics."))

    def _request_group_means(self) -> None:
        self._group_means = {}
        tree, metrics = self.tree, list(self.metric_columns)
        if tree.means is not None and tree.means_of == tuple(metrics):
            self.background.invalidate("group-means")
            self._group_means = tree.means  # read with the groups
            return
        if not tree.group_key or not metrics:
            self.background.invalidate("group-means")
            return

        def arrived(means: dict[int, dict[str, tuple[float, int]]]) -> None:
            if tree is not self.tree:
                return
            self._group_means = means
            if self.tree.top and self.columnCount():
                self.dataChanged.emit(self.index(0, 0), self.index(len(self.tree.top) - 1, self.columnCount() - 1))

        self.background.submit("group-means", lambda: self.store.group_means(tree, metrics), arrived)

    def refresh_rows(self, first_rows: dict[int, RunInfo] | None = None) -> None:
        """Re-fetch the pages the view asked for in this listing (live runs); old values stay
        until new ones arrive. ``first_rows``: the first page's runs, read already. Runs
        loaded for an earlier listing and not asked for since are dropped, not read again."""
        asked = set(self._requested)
        self._cache = {pk: run for pk, run in self._cache.items() if self._page_of(pk) in asked}
        self._requested.clear()
        self.background.invalidate("page")
        if self._take_first_rows(first_rows) and self.tree.top and self.columnCount():
            self.dataChanged.emit(self.index(0, 0), self.index(min(PAGE, len(self.tree.top)) - 1, self.columnCount() - 1))
        for start in sorted(asked):
            self._request(start)

    def _take_first_rows(self, runs: dict[int, RunInfo] | None) -> bool:
        """Cache the first page's runs, read with the listing (the page is not asked again)."""
        if not runs or self._pks[:PAGE] != list(runs):
            return False  # only a whole first page, in the listing's order
        self._cache.update(runs)
        self._requested.add(0)
        self._drop_oldest()
        return True

    def _drop_oldest(self) -> None:
        """Keep at most ``MAX_LOADED`` runs: the first loaded go (a dict keeps its order of
        insertion), and their pages are asked for again when shown."""
        over = len(self._cache) - MAX_LOADED
        if over <= 0:
            return
        for pk in list(itertools.islice(self._cache, over)):
            del self._cache[pk]
            self._requested.discard(self._page_of(pk))

    def _page_of(self, pk: int) -> int | None:
        """The first row of the page that holds ``pk`` in this listing (None: not listed)."""
        position = self._rows.get(pk)
        return None if position is None else position - position % PAGE

    def set_extra_columns(self, columns: list[str]) -> None:
        self.beginResetModel()
        self.extra_columns = list(columns)
        self.endResetModel()
        self._request_group_means()

    def row_of(self, pk: int) -> int | None:
        """The run's top-level row (its group's or parent's row when it is nested)."""
        where = self.tree.place(pk)
        return where[0] if where else None

    def index_of(self, pk: int, column: int = 0) -> QModelIndex:
        where = self.tree.place(pk)
        if where is None:
            return QModelIndex()
        top, child = where
        if child < 0:
            return self.index(top, column)
        return self.index(child, column, self.index(top, 0))

    def node_at(self, index: QModelIndex | QPersistentModelIndex) -> int | None:
        """A run pk (>= 0) or a group node (< 0) for an index."""
        if not index.isValid():
            return None
        parent_row = index.internalId() - 1
        if parent_row < 0:
            top = self.tree.top
            return top[index.row()] if index.row() < len(top) else None
        kids = self.tree.children.get(self.tree.top[parent_row], [])
        return kids[index.row()] if index.row() < len(kids) else None

    def pk_of(self, index: QModelIndex | QPersistentModelIndex) -> int | None:
        node = self.node_at(index)
        return node if node is not None and node >= 0 else None

    def pks_under(self, index: QModelIndex | QPersistentModelIndex) -> list[int]:
        """The runs a row stands for: itself, or a group's runs."""
        node = self.node_at(index)
        if node is None:
            return []
        return [node] if node >= 0 else list(self.tree.children.get(node, []))

    def pk_at(self, row: int) -> int:
        """The pk of a top-level row (a group row has none: its first run's)."""
        node = self.tree.top[row]
        return node if node >= 0 else self.tree.children[node][0]

    @property
    def loaded(self) -> int:
        """How many runs are loaded (at most ``MAX_LOADED``)."""
        return len(self._cache)

    def is_loaded(self, row: int) -> bool:
        return 0 <= row < len(self.tree.top) and self.pk_at(row) in self._cache

    def run_at(self, row: int) -> RunInfo | None:
        """A top-level row's run if its page has arrived (else None, and the page is
        asked for)."""
        if not 0 <= row < len(self.tree.top):
            return None
        return self.run_for(self.pk_at(row))

    def run_for(self, pk: int) -> RunInfo | None:
        run = self._cache.get(pk)
        if run is None:
            start = self._page_of(pk)
            if start is not None:
                self._request(start)
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
        tops: list[int] = []
        nested: dict[int, list[int]] = {}
        for pk, run in runs.items():
            where = self.tree.place(pk)
            if where is None:
                continue
            self._cache.pop(pk, None)  # newest last: the first to go are the longest loaded
            self._cache[pk] = run
            top, child = where
            if child < 0:
                tops.append(top)
            else:
                nested.setdefault(top, []).append(child)
                tops.append(top)  # a group row's aggregates change too
        self._drop_oldest()
        last = self.columnCount() - 1
        if last < 0:
            return
        if tops:
            self.dataChanged.emit(self.index(min(tops), 0), self.index(max(tops), last))
        for top, children in nested.items():
            parent = self.index(top, 0)
            self.dataChanged.emit(
                self.index(min(children), 0, parent), self.index(max(children), last, parent)
            )

    # Qt model interface ----------------------------------------------------

    def index(
        self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = _ROOT
    ) -> QModelIndex:
        # The bounds checked here rather than by hasIndex(), which would call back into
        # rowCount() and columnCount(): a view asks for an index per row it lays out.
        if column < 0 or row < 0 or column >= len(BASE_COLUMNS) + len(self.extra_columns):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0) if row < len(self.tree.top) else QModelIndex()
        if row >= self.rowCount(parent):
            return QModelIndex()
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index=None):  # type: ignore[override]
        if index is None:  # QObject.parent()
            return super().parent()
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        if not parent.isValid():
            return len(self.tree.top)
        if parent.internalId() != 0 or parent.column() != 0:
            return 0  # two levels only
        node = self.tree.top[parent.row()] if parent.row() < len(self.tree.top) else None
        return len(self.tree.children.get(node, ())) if node is not None else 0

    def hasChildren(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> bool:
        if not parent.isValid():
            return bool(self.tree.top)
        return bool(self.tree.children) and self.rowCount(parent) > 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return len(BASE_COLUMNS) + len(self.extra_columns)

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
        if role == Qt.ItemDataRole.SizeHintRole:  # the tree view's rows, as tall as the table's
            return QSize(-1, self.row_height) if self.row_height else None
        node = self.node_at(index)
        if node is None:
            return None
        if node < 0:
            return self._group_data(node, index.column(), role)
        run = self.run_for(node)
        if run is None:
            return PLACEHOLDER if role == Qt.ItemDataRole.DisplayRole else None
        if role == ROLE_RUN:
            return run.id
        key = self.column_key(index.column())
        if role == Qt.ItemDataRole.ToolTipRole:
            if index.column() == 0:
                return f"{run.name}\n{run.format} run {run.source_id}\n{run.project}/{run.path}"
            return self._text(run, key, exact=True) or None
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

    def _group_data(self, node: int, column: int, role: int):
        """A group row: its value and size, and the mean of its loaded runs' metrics."""
        pks = self.tree.children.get(node, [])
        key = self.column_key(column)
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and key.startswith("metrics."):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if column == 0:
            g = RunTree.group_index(node) or 0
            name = self.tree.group_key.split(".", 1)[-1]
            other = self.tree.other_sources_in.get(node, 0)
            runs = len(pks) - other
            label = f"{name} = {self.tree.groups[g]}  ({runs} run{'s' if runs != 1 else ''}"
            if not other:
                return label + ")"
            if role == Qt.ItemDataRole.ToolTipRole:
                return (f"{label}; {other} more row{'s are' if other != 1 else ' is'} the same training logged "
                        "in another format, e.g. by Lightning's TensorBoardLogger beside its CSVLogger: "
                        "shown, not counted or averaged)")
            return f"{label} +{other} twin{'s' if other != 1 else ''})"
        if not key.startswith("metrics."):
            return ""
        mean = self._group_means.get(node, {}).get(key.split(".", 1)[1])
        if mean is None:
            return ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"mean of {mean[1]} runs: {mean[0]!r}"
        return format_number(mean[0])

    @staticmethod
    def _text(run: RunInfo, key: str, *, exact: bool = False) -> str:
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
            if m is None:
                return ""
            return repr(m.last) if exact else format_number(m.last)
        return ""
