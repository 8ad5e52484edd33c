"""The runs panel: query bar (with completion and inline errors), the runs table (a tree:
groups by a key, or nested runs under their parent), its column picker (remembered per
project) and context menu. Queries, sorting and grouping run in SQL on a worker thread.

The table is two views over one model and one selection: a table view while the runs are a
flat list, a tree view while they have groups or nested runs. A tree view lays out every
top-level row on each reset (measured: 320 ms for 100,000 rows, against 16 ms for a table
view, which asks only for the rows on screen), so sorting and filtering a long flat list
would block the GUI thread; grouped and nested lists have few top-level rows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QPoint,
    QSettings,
    QStringListModel,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QDesktopServices, QFont, QFontMetrics, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QStackedWidget,
    QTableView,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from labdeck.db.entities import RunInfo
from labdeck.runs.query import QueryError, parse_query
from labdeck.ui.ops import ReadChannels
from labdeck.ui.grouping import ATTRIBUTES
from labdeck.runs.table_shape import RunTree
from labdeck.ui.runs_model import BASE_COLUMNS, PAGE, RunsTableModel
from labdeck.run_reads import RunReads, ShownRuns, TableRequest


def sort_field(key: str) -> str:
    """A column key as a query-language sort field (keys with odd characters quoted)."""
    key = {"start": "start_time", "duration": "end_time"}.get(key, key)
    if "." not in key:
        return key
    kind, name = key.split(".", 1)
    return f'{kind}."{name}"'


def _restore_quietly(header: QHeaderView, state) -> None:
    """Column order, widths and sort indicator, without the re-query a sort change asks for
    (the other view's header already holds the query's sort)."""
    header.blockSignals(True)
    header.restoreState(state)
    header.blockSignals(False)


# Groups start open up to this many runs, folded above: a tree view lays out every row of an
# open group on each reset (100,000 runs in four open groups: about a second of frozen window).
OPEN_GROUPS_UP_TO = 5_000
MAX_GROUP_LABEL_WIDTH = 480  # pixels: a long label is elided past this, its tooltip has it whole
GROUP_LABEL_SHARE = 0.4  # of the table's width, at most, for the widened first column


class FlatRunsView(QTableView):
    """The runs table while it is a flat list, drawn like the tree view beside it."""

    def __init__(self) -> None:
        super().__init__()
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.setShowGrid(False)
        self.setCornerButtonEnabled(False)
        self.setTabKeyNavigation(False)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)


class RunsView(QTreeView):
    """The runs table while it has groups or nested runs: a tree view (they fold) that
    answers the table calls the rest of the app makes."""

    def __init__(self) -> None:
        super().__init__()
        self.setUniformRowHeights(True)  # 100,000 rows: no per-row size queries
        self.setRootIsDecorated(False)
        self.setAllColumnsShowFocus(True)
        self.setItemsExpandable(True)
        self._layout_pending = False

    def doItemsLayout(self) -> None:
        # Hidden behind the flat table, a tree would still lay out every row on each reset
        # of the shared model: it does so when it is shown instead.
        if self.isVisible():
            super().doItemsLayout()
        else:
            self._layout_pending = True

    def showEvent(self, event: QShowEvent) -> None:
        if self._layout_pending:
            self._layout_pending = False
            super().doItemsLayout()
        super().showEvent(event)

    def horizontalHeader(self) -> QHeaderView:
        return self.header()

    def selectRow(self, row: int) -> None:
        self.setCurrentIndex(self.model().index(row, 0))
        self.selectionModel().select(
            self.model().index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )


class RunsPanel(QWidget):
    selection_changed = Signal(list)  # selected run pks, in table order
    compare_requested = Signal()
    rows_loaded = Signal(int)  # row count after a query
    group_changed = Signal(str)  # the table's group-by key ("" for none)
    hid_runs = Signal()  # runs were hidden: the window announces a change of runs

    def __init__(
        self, store: RunReads, background: ReadChannels, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.background = background
        self.project: str | None = None
        self.experiment: str | None = None
        self._sort = ""  # query-language sort text, e.g. "-metrics.\"loss\""
        self._keys: dict[str, list[str]] = {"params": [], "metrics": [], "tags": []}
        self._restore: set[int] | None = (
            None  # selection to re-apply after a live re-query
        )
        self.group_key = ""
        # (query, sort, project, experiment) of the runs shown; None while a query is out
        # (a live refresh may be bringing other runs): a new grouping reuses the listing.
        self._shown_listing: tuple | None = None
        self.column_memory: QSettings | None = None  # columns chosen per project
        self._build()

    def _build(self) -> None:
        self.query = QLineEdit()
        self.query.setObjectName("query")
        self.query.setPlaceholderText(
            "Filter runs, e.g.  params.lr < 0.1 and metrics.val_loss < 0.5   (Enter)"
        )
        self.query.setClearButtonEnabled(True)
        self._completion = QStringListModel(self)
        completer = QCompleter(self._completion, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.query.setCompleter(completer)
        self.query.returnPressed.connect(self.run_query)
        self.columns_button = QToolButton()
        self.columns_button.setText("Columns")
        self.columns_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.columns_menu = QMenu(self)
        self.columns_menu.aboutToShow.connect(self._fill_columns_menu)
        self.columns_button.setMenu(self.columns_menu)
        self.query_error = QLabel()
        self.query_error.setObjectName("queryError")
        self.query_error.setStyleSheet("color: #c0392b")
        self.query_error.hide()
        self.count_label = QLabel()
        self.group_combo = QComboBox()
        self.group_combo.setObjectName("tableGroupBy")
        self.group_combo.setToolTip("Group the runs by a param, tag or attribute")
        self.group_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.group_combo.setMinimumContentsLength(8)
        self.group_combo.addItem("no groups", "")
        self.group_combo.activated.connect(
            lambda _i: self.set_group_by(self.group_combo.currentData() or "")
        )

        self.model = RunsTableModel(self.store, self.background, self)
        self.flat_view = FlatRunsView()
        self.tree_view = RunsView()
        self.views = QStackedWidget()
        for view, name in ((self.flat_view, "runs"), (self.tree_view, "runsTree")):
            self._configure(view, name)
            self.views.addWidget(view)
        # One row height for both: grouping must not make the rows jump.
        self.model.row_height = self.flat_view.verticalHeader().defaultSectionSize()
        # One selection for both views: switching between them keeps what is selected.
        self.tree_view.setSelectionModel(self.flat_view.selectionModel())
        self.flat_view.selectionModel().selectionChanged.connect(
            lambda *_: self._emit_selection()
        )

        bar = QHBoxLayout()
        bar.addWidget(self.query, 1)
        bar.addWidget(self.group_combo)
        bar.addWidget(self.columns_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.query_error)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.count_label)
        self._fit_columns()

    def _configure(self, view: QTableView | QTreeView, name: str) -> None:
        view.setObjectName(name)
        view.setModel(self.model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setSortingEnabled(False)  # sorting runs in SQL, from the header click
        header = view.horizontalHeader() if isinstance(view, QTableView) else view.header()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setSectionsMovable(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(
            lambda _p: self.columns_menu.exec(self.cursor().pos())
        )
        header.sortIndicatorChanged.connect(self._sort_changed)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._context_menu)

    @property
    def table(self) -> FlatRunsView | RunsView:
        """The view on screen: the table for a flat list, the tree for groups and nested runs."""
        view = self.views.currentWidget()
        assert isinstance(view, (FlatRunsView, RunsView))
        return view

    def _show_view(self, view: FlatRunsView | RunsView) -> None:
        """Switch views, carrying over column order, widths and the sort indicator."""
        shown = self.table
        if view is shown:
            return
        _restore_quietly(view.horizontalHeader(), shown.horizontalHeader().saveState())
        scroll = shown.verticalScrollBar().value()
        self.views.setCurrentWidget(view)
        view.verticalScrollBar().setValue(scroll)

    # Queries ---------------------------------------------------------------

    def set_scope(self, project: str | None, experiment: str | None = None) -> None:
        changed = project != self.project
        self.project, self.experiment = project, experiment
        if changed:
            self.recall_columns()
        self.run_query()

    def set_group_by(self, key: str) -> None:
        """Group the table by ``key`` ("params.lr", "experiment"; "" for none)."""
        self.group_key = key
        index = self.group_combo.findData(key)
        if index < 0 and key:
            self.group_combo.addItem(key, key)
            index = self.group_combo.count() - 1
        self.group_combo.setCurrentIndex(max(index, 0))
        self.group_changed.emit(key)
        # The same runs stay selected, in view; the same listing is grouped anew.
        self.run_query(keep_selection=True, reveal=True, regroup=True)

    def run_query(self, *, keep_selection: bool = False, reveal: bool = False, regroup: bool = False) -> bool:
        """Re-query the index off the GUI thread; False (and an inline error) for a bad query."""
        text = self.query.text()
        try:
            parse_query(text)  # pure parsing, no I/O: the error shows at once
        except QueryError as exc:
            self.query_error.setText(f"{exc.message} (at column {exc.position + 1})")
            self.query_error.show()
            self.query.setCursorPosition(exc.position)
            return False
        self.query_error.hide()
        selected = set(self.selected_pks()) if keep_selection else None
        sort, project, experiment = self._sort, self.project, self.experiment
        group = self.group_key
        listing = (text, sort, project, experiment)
        listed = self.model.pks if regroup and listing == self._shown_listing else None
        asked = TableRequest(text, sort, project, experiment, group, listed, self.model.metric_columns)
        self._shown_listing = None

        def shown(result: ShownRuns) -> None:
            self._show_tree(result.tree, selected, reveal, result.first_rows)
            self._shown_listing = listing
            # Then, off the user's path, keep what orders this listing in memory: the same
            # listing again (a flipped sort, a filter cleared) is then a NumPy sort.
            shown_columns, quiet = self._sortable_columns(), self.background.quiet
            self.background.submit("orders", lambda: self.store.prepare_orders(asked, shown_columns, quiet),
                                   lambda _none: None, lowly=True)

        self.background.submit(
            "query",
            lambda: self.store.shown_runs(asked, PAGE),
            shown,
            on_error=self._query_failed,
        )
        return True

    def _query_failed(self, exc: Exception) -> None:
        message = exc.message if isinstance(exc, QueryError) else str(exc)
        self.query_error.setText(message)
        self.query_error.show()

    def _show_tree(self, tree: RunTree, selected: set[int] | None, reveal: bool = False,
                   first_rows: dict[int, RunInfo] | None = None) -> None:
        """Show a query's runs; ``selected`` runs stay selected, and the scroll position stays
        (a live refresh) unless ``reveal`` asks for the selection to be scrolled into view.
        ``first_rows``: the runs of the first page, read with the listing."""
        pks = tree.pks
        scroll = self.table.verticalScrollBar().value()
        same = tree.top == self.model.tree.top and tree.children == self.model.tree.children
        if selected is not None and same and pks == self.model.pks:
            self.model.refresh_rows(first_rows)  # same rows: refresh their values in place
        else:
            expanded = self._expanded_nodes() if same or selected is not None else set()
            self.model.set_tree(tree, first_rows)
            self._show_view(self.tree_view if tree.children else self.flat_view)
            self.tree_view.setRootIsDecorated(bool(tree.children))
            if tree.group_key:
                self._fit_group_labels()
            self._expand(tree, expanded)
            if selected:
                self._select_pks(selected)
        if selected is not None and not reveal:
            self.table.verticalScrollBar().setValue(scroll)
        if tree.group_key:
            shape = f" in {len(tree.top):,} groups"
        elif tree.children:  # folded rows: say why fewer rows show than runs are counted
            shape = f", {len(pks) - len(tree.top):,} folded under their parent run"
        else:
            shape = ""
        self.count_label.setText(f"{len(pks):,} runs{shape}")
        self.rows_loaded.emit(len(pks))
        self._emit_selection()

    def _fit_group_labels(self) -> None:
        """Widen the first column to the group rows' labels ("lr = 0.05  (2 runs +2 twins)"),
        up to a limit and to two fifths of the table's width (the columns right of it, the
        metrics the user chose, stay in view); never narrower than the user made it."""
        font = QFont(self.tree_view.font())
        font.setBold(True)
        metrics = QFontMetrics(font)
        rows = min(self.model.rowCount(), 100)
        needed = max((metrics.horizontalAdvance(str(self.model.data(self.model.index(r, 0)) or ""))
                      for r in range(rows)), default=0)
        header = self.tree_view.horizontalHeader()
        share = int(self.tree_view.viewport().width() * GROUP_LABEL_SHARE)
        wanted = min(needed + self.tree_view.indentation() + 24, MAX_GROUP_LABEL_WIDTH, share)
        if wanted > header.sectionSize(0):
            header.resizeSection(0, wanted)

    def _expanded_nodes(self) -> set[int]:
        return {
            node
            for node, row in self.model.tree.folding_rows.items()
            if self.tree_view.isExpanded(self.model.index(row, 0))
        }

    def _expand(self, tree: RunTree, keep: set[int]) -> None:
        """Groups open while the list is short, nested runs folded under their parent
        (unless opened before)."""
        open_groups = len(tree.pks) <= OPEN_GROUPS_UP_TO
        for node, row in tree.folding_rows.items():
            if (node < 0 and open_groups) or node in keep:
                self.tree_view.setExpanded(self.model.index(row, 0), True)

    def refresh_keys(self) -> None:
        def done(keys: dict[str, list[str]]) -> None:
            self._keys = keys
            self._completion.setStringList(
                [f"{ns}.{k}" for ns, names in keys.items() for k in names]
                + ["status = ", "name ~ ", "experiment = ", "format = ", "has "]
            )

            self._fill_group_combo()

        # Lowly: the names offered for completion and grouping wait for the listing (at start-up,
        # read beside it, they made the first page 60–100 ms later).
        self.background.submit("keys", self.store.known_keys, done, lowly=True)

    def _fill_group_combo(self) -> None:
        keys = list(ATTRIBUTES) + [
            f"{ns}.{k}" for ns in ("params", "tags") for k in self._keys.get(ns, [])
        ]
        self.group_combo.blockSignals(True)
        self.group_combo.clear()
        self.group_combo.addItem("no groups", "")
        for key in keys:
            self.group_combo.addItem(key, key)
        index = self.group_combo.findData(self.group_key)
        if index < 0 and self.group_key:
            self.group_combo.addItem(self.group_key, self.group_key)
            index = self.group_combo.count() - 1
        self.group_combo.setCurrentIndex(max(index, 0))
        self.group_combo.blockSignals(False)

    # Sorting and columns ---------------------------------------------------

    def _sortable_columns(self) -> list[str]:
        """The shown columns as sort fields, in the order they appear."""
        header = self.table.horizontalHeader()
        shown = [c for c in range(self.model.columnCount()) if not header.isSectionHidden(c)]
        return [sort_field(self.model.column_key(c)) for c in sorted(shown, key=header.visualIndex)]

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        if column < 0:
            self._sort = ""
        else:
            prefix = "-" if order == Qt.SortOrder.DescendingOrder else ""
            self._sort = prefix + sort_field(self.model.column_key(column))
        self.run_query(keep_selection=True)

    def sort_by(self, key: str, descending: bool = False) -> None:
        column = [
            self.model.column_key(c) for c in range(self.model.columnCount())
        ].index(key)
        order = (
            Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        )
        self.table.horizontalHeader().setSortIndicator(column, order)

    def _fill_columns_menu(self) -> None:
        self.columns_menu.clear()
        chosen = set(self.model.extra_columns)
        for namespace, title in (
            ("params", "Params"),
            ("metrics", "Metrics"),
            ("tags", "Tags"),
        ):
            sub = self.columns_menu.addMenu(title)
            names = self._keys.get(namespace, [])
            if not names:
                sub.setEnabled(False)
            for name in names:
                key = f"{namespace}.{name}"
                action = sub.addAction(name)
                action.setCheckable(True)
                action.setChecked(key in chosen)
                action.toggled.connect(lambda on, k=key: self.toggle_column(k, on))
        if chosen:
            self.columns_menu.addSeparator()
            self.columns_menu.addAction(
                "Remove extra columns", lambda: self.set_columns([])
            )

    def toggle_column(self, key: str, on: bool) -> None:
        columns = [c for c in self.model.extra_columns if c != key]
        if on:
            columns.append(key)
        self.set_columns(columns)

    def set_columns(self, columns: list[str], *, remember: bool = True) -> None:
        selected = set(self.selected_pks())
        self.model.set_extra_columns(columns)
        self._select_pks(selected)
        self._fit_columns()
        # A first click on a new column: from memory too. A channel of its own: it must not
        # supersede the shown listing's "orders" before that has kept the listing.
        shown_columns, quiet = self._sortable_columns(), self.background.quiet
        self.background.submit("column orders", lambda: self.store.prepare_columns(shown_columns, quiet),
                               lambda _none: None, lowly=True)
        if remember and self.column_memory is not None:
            self.column_memory.setValue(self._columns_key(), list(columns))

    def _columns_key(self) -> str:
        # A hash of the folder: a path's slashes would nest QSettings groups.
        scope = hashlib.sha1((self.project or "*").encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
        return f"runs/columns-by-project/{scope}"

    def recall_columns(self) -> None:
        """This project's chosen metric and param columns (chosen once, kept)."""
        if self.column_memory is None:
            return
        stored = self.column_memory.value(self._columns_key())
        if stored is None:
            return
        if isinstance(stored, str):
            stored = [stored] if stored else []  # the INI format's one-item list
        self.set_columns([str(c) for c in stored], remember=False)

    def _fit_columns(self) -> None:
        for view in (self.flat_view, self.tree_view):
            self._fit_header(view.horizontalHeader())

    def _fit_header(self, header: QHeaderView) -> None:
        for column in range(self.model.columnCount()):
            key = self.model.column_key(column)
            width = {
                "name": 190,
                "start": 125,
                "status": 70,
                "format": 80,
                "duration": 70,
                "experiment": 120,
            }.get(key, 95)
            if (
                key not in BASE_COLUMNS
            ):  # wide enough for the header: "metrics.val/accuracy"
                width = max(width, header.fontMetrics().horizontalAdvance(key) + 24)
            header.resizeSection(column, width)

    # Selection -------------------------------------------------------------

    def selected_pks(self) -> list[int]:
        """Selected runs in the query's order; a selected group row stands for its runs."""
        chosen: set[int] = set()
        for index in self.table.selectionModel().selectedRows():
            chosen.update(self.model.pks_under(index))
        position = self.model._rows
        return sorted((pk for pk in chosen if pk in position), key=position.__getitem__)

    def selected_runs(self) -> list[RunInfo]:
        """Selected runs whose rows have been loaded (the visible ones)."""
        runs = (self.model.run_for(pk) for pk in self.selected_pks())
        return [r for r in runs if r is not None]

    def _select_pks(self, pks: set[int]) -> None:
        selection = self.table.selectionModel()
        wanted = QItemSelection()
        last = self.model.columnCount() - 1
        first_index = None
        for pk in sorted(pks, key=lambda p: self.model._rows.get(p, 0)):
            index = self.model.index_of(pk)
            if not index.isValid():
                continue
            if index.parent().isValid():
                self.tree_view.setExpanded(index.parent(), True)  # a nested run: unfold it
            wanted.select(index, index.siblingAtColumn(max(last, 0)))
            first_index = first_index or index
        selection.blockSignals(True)
        selection.select(wanted, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        selection.blockSignals(False)
        self.table.viewport().update()
        if first_index is not None:
            # The selection is always in view (a query's match, a run picked in a plot).
            self.table.scrollTo(first_index, QAbstractItemView.ScrollHint.EnsureVisible)

    def select_rows(self, rows: list[int]) -> None:
        """Select top-level rows (a group row: its runs)."""
        pks = set()
        for r in rows:
            if 0 <= r < self.model.rowCount():
                pks.update(self.model.pks_under(self.model.index(r, 0)))
        self._select_pks(pks)
        self._emit_selection()

    def select_pks(self, pks: list[int]) -> None:
        self._select_pks(set(pks))
        self._emit_selection()

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_pks())

    # Context menu ----------------------------------------------------------

    def _context_menu(self, pos: QPoint) -> None:
        pks = self.selected_pks()
        if not pks:
            return
        menu = QMenu(self)
        compare = menu.addAction(
            f"Compare {len(pks)} run{'s' if len(pks) != 1 else ''}"
        )
        compare.triggered.connect(self.compare_requested)
        menu.addAction("Copy run id" + ("s" if len(pks) > 1 else ""), self.copy_ids)
        menu.addSeparator()
        menu.addAction("Open run folder", lambda: self.open_folders(reveal=False))
        menu.addAction("Show in file manager", lambda: self.open_folders(reveal=True))
        menu.addSeparator()
        menu.addAction("Hide from index", self.hide_selected)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def hide_selected(self) -> None:
        """Hide the selected runs from labdeck's lists; `labdeck unhide RUN` shows them again."""
        pks = self.selected_pks()
        if not pks:
            return
        self.background.submit("hide", lambda: self.store.hide(pks), lambda _n: self.hid_runs.emit())

    def copy_ids(self) -> None:
        """Every selected run's id, not only those of the rows loaded (a selection may span
        100,000 runs; the table keeps 5,000 loaded at most)."""
        pks = self.selected_pks()
        if pks:
            self.background.submit("copy ids", lambda: self.store.ids(pks),
                                   lambda ids: QGuiApplication.clipboard().setText("\n".join(ids)))

    def open_folders(self, *, reveal: bool) -> None:
        pks = self.selected_pks()[:10]

        def done(folders: dict[int, str]) -> None:
            for pk in pks:
                folder = folders.get(pk)
                if folder:
                    target = str(Path(folder).parent) if reveal else folder
                    QDesktopServices.openUrl(QUrl.fromLocalFile(target))

        self.background.submit("folders", lambda: self.store.folders(pks), done)

    # Settings --------------------------------------------------------------

    def header_state(self) -> bytes:
        return bytes(self.table.horizontalHeader().saveState().data())

    def restore_header(self, state: object) -> None:
        if state:
            self.flat_view.horizontalHeader().restoreState(state)
            _restore_quietly(self.tree_view.horizontalHeader(), state)  # one query for the sort, not two
