"""The main window: projects, query bar, runs table, details and a metric plot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStringListModel, Qt, QTimer
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QFileDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from labdeck.db.filters import SortKey
from labdeck.runs.query import QueryError, parse_query, parse_sort
from labdeck.ui.details import RunDetails
from labdeck.ui.indexing import IndexingService
from labdeck.ui.plot_panel import PlotPanel
from labdeck.ui.runs_model import RunsTableModel
from labdeck.ui.views import view_modules
from labdeck.ui.warnings_dialog import WarningsDialog
from labdeck.workspace import Workspace

ALL_PROJECTS = "All projects"


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace, *, watch: bool = True) -> None:
        super().__init__()
        self.workspace = workspace
        self.setWindowTitle("labdeck")
        self.setAcceptDrops(True)
        self.indexing = IndexingService(workspace, self)
        self._sort: list[SortKey] = []
        self._build()
        self._connect()
        self.reload_projects()
        self.run_query()
        self._restore_settings()
        if watch:
            self.indexing.start_watching()

    # Construction ------------------------------------------------------------

    def _build(self) -> None:
        self.projects = QListWidget()
        self.projects.setObjectName("projects")
        add = QPushButton("Add…")
        add.clicked.connect(self.choose_project)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected_project)
        rescan = QPushButton("Rescan")
        rescan.clicked.connect(lambda: self.indexing.index(None))
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(QLabel("Projects"))
        side_layout.addWidget(self.projects, 1)
        for button in (add, self.remove_button, rescan):
            side_layout.addWidget(button)

        self.query = QLineEdit()
        self.query.setObjectName("query")
        self.query.setPlaceholderText('Filter runs, e.g.  params.lr < 0.1 and metrics.val/loss < 0.5   (Enter)')
        self.query.setClearButtonEnabled(True)
        self._completion = QStringListModel(self)
        completer = QCompleter(self._completion, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.query.setCompleter(completer)
        self.query_error = QLabel()
        self.query_error.setObjectName("queryError")
        self.query_error.setStyleSheet("color: #c0392b")
        self.query_error.hide()

        self.model = RunsTableModel(self.workspace, self)
        self.table = QTableView()
        self.table.setObjectName("runs")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(False)  # sorting runs in SQL, from the header click
        self.table.horizontalHeader().setSectionsClickable(True)
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.addWidget(self.query)
        centre_layout.addWidget(self.query_error)
        centre_layout.addWidget(self.table, 1)

        self.details = RunDetails()
        self.plot = PlotPanel(self._series_for)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.details)
        right.addWidget(self.plot)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(side)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([200, 700, 500])
        self.tabs = QTabWidget()
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.splitter, "Runs")
        self.views: dict[str, QWidget] = {}
        for module in view_modules():
            view = module.create(self.workspace, self)
            self.views[module.TITLE] = view
            self.tabs.addTab(view, module.TITLE)
        self.setCentralWidget(self.tabs)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.indexing.cancel)
        self.warnings_button = QPushButton("No warnings")
        self.warnings_button.setFlat(True)
        self.warnings_button.clicked.connect(self.show_warnings)
        self.state_label = QLabel("idle")
        status = self.statusBar()
        status.addPermanentWidget(self.state_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.warnings_button)

        refresh = QAction("Rescan", self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(lambda: self.indexing.index(None))
        self.addAction(refresh)

    def _connect(self) -> None:
        self.query.returnPressed.connect(self.run_query)
        self.projects.currentItemChanged.connect(lambda *_: self.run_query())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_changed)
        self.indexing.progressed.connect(self._progress)
        self.indexing.busy_changed.connect(self._busy)
        self.indexing.pass_finished.connect(self._pass_finished)
        self.indexing.changed.connect(self._live_update)

    # Projects ----------------------------------------------------------------

    def reload_projects(self) -> None:
        current = self.current_project()
        self.projects.blockSignals(True)
        self.projects.clear()
        self.projects.addItem(QListWidgetItem(ALL_PROJECTS))
        for p in self.workspace.projects():
            item = QListWidgetItem(f"{p.name}  ({p.run_count})")
            item.setData(Qt.ItemDataRole.UserRole, p.path)
            item.setToolTip(p.path)
            self.projects.addItem(item)
            if p.path == current:
                self.projects.setCurrentItem(item)
        if self.projects.currentItem() is None:
            self.projects.setCurrentRow(0)
        self.projects.blockSignals(False)
        self._completion.setStringList(
            [f"{ns}.{k}" for ns, keys in self.workspace.known_keys().items() for k in keys]
            + ["status = ", "name ~ ", "experiment = ", "format = "]
        )
        self._update_warnings()

    def current_project(self) -> str | None:
        item = self.projects.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def add_project(self, path: str) -> None:
        try:
            resolved, _created = self.workspace.add_project(path)
        except ValueError as exc:
            QMessageBox.warning(self, "labdeck", str(exc))
            return
        self.reload_projects()
        self.indexing.projects_changed()
        self.indexing.index(resolved)

    def choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a project folder")
        if folder:
            self.add_project(folder)

    def remove_selected_project(self) -> None:
        path = self.current_project()
        if path is None:
            return
        self.workspace.remove_project(path)
        self.indexing.projects_changed()
        self.reload_projects()
        self.run_query()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if Path(url.toLocalFile()).is_dir():
                self.add_project(url.toLocalFile())
        event.acceptProposedAction()

    # Runs --------------------------------------------------------------------

    def run_query(self) -> None:
        text = self.query.text()
        try:
            parse_query(text)
        except QueryError as exc:
            self.query_error.setText(f"{exc.message} (at column {exc.position + 1})")
            self.query_error.show()
            self.query.setCursorPosition(exc.position)
            return
        self.query_error.hide()
        sort = ",".join(("-" if k.descending else "") + self._field_text(k) for k in self._sort)
        pks = self.workspace.run_pks(text, sort, project=self.current_project())
        self.model.set_pks(pks)
        self.statusBar().showMessage(f"{len(pks)} runs", 3000)
        self._selection_changed()

    @staticmethod
    def _field_text(key: SortKey) -> str:
        f = key.field
        return f.name if f.kind == "attr" else f'{f.kind}."{f.name}"'

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        field = self.model.sort_key_for(column)
        keys = parse_sort(field if "." not in field else f'{field.split(".", 1)[0]}."{field.split(".", 1)[1]}"')
        self._sort = [SortKey(keys[0].field, order == Qt.SortOrder.DescendingOrder)]
        self.run_query()

    def selected_runs(self):
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [r for r in (self.model.run_at(row) for row in rows) if r is not None]

    def _selection_changed(self) -> None:
        runs = self.selected_runs()
        if len(runs) == 1:
            self.details.show_run(runs[0], self.workspace.provenance(runs[0].id))
        else:
            self.details.show_run(None)
        self.plot.set_runs(runs[:100])

    def _series_for(self, run_ids: list[str], key: str):
        return {rid: self.workspace.series(rid, [key]).get(key) for rid in run_ids}

    def _live_update(self) -> None:
        # New points or runs: re-run the query but keep the selection and scroll position.
        selected = {r.id for r in self.selected_runs()}
        scroll = self.table.verticalScrollBar().value()
        text = self.query.text()
        sort = ",".join(("-" if k.descending else "") + self._field_text(k) for k in self._sort)
        try:
            pks = self.workspace.run_pks(text, sort, project=self.current_project())
        except QueryError:
            return
        if pks == self.model._pks:  # noqa: SLF001 - same rows: refresh their values in place
            self.model.refresh_rows()
        else:
            self.model.set_pks(pks)
            selection = self.table.selectionModel()
            for row in range(self.model.rowCount()):
                run = self.model.run_at(row) if len(selected) else None
                if run is not None and run.id in selected:
                    selection.select(
                        self.model.index(row, 0),
                        selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                    )
        self.table.verticalScrollBar().setValue(scroll)
        self.state_label.setText("live: updated")
        QTimer.singleShot(1500, lambda: self.state_label.setText("idle"))
        self._selection_changed()
        self._update_warnings()

    # Indexing feedback -------------------------------------------------------

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.setMaximum(max(total, 0))
        self.progress.setValue(done)
        self.state_label.setText(f"indexing {message}")

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.state_label.setText("idle")

    def _pass_finished(self, result) -> None:
        if isinstance(result, Exception):
            QMessageBox.warning(self, "labdeck", f"Indexing failed: {result}")
            return
        self.reload_projects()
        self._live_update()

    def _update_warnings(self) -> None:
        count = len(self.workspace.warnings())
        self.warnings_button.setText(f"{count} warning{'s' if count != 1 else ''}" if count else "No warnings")

    def show_warnings(self) -> None:
        WarningsDialog(self.workspace.warnings(), self).exec()

    # Settings ----------------------------------------------------------------

    def _restore_settings(self) -> None:
        settings = QSettings()
        geometry = settings.value("main/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("main/splitter")
        if state is not None:
            self.splitter.restoreState(state)
        columns = settings.value("main/columns")
        if isinstance(columns, list):
            self.model.set_extra_columns([str(c) for c in columns])

    def closeEvent(self, event) -> None:
        settings = QSettings()
        settings.setValue("main/geometry", self.saveGeometry())
        settings.setValue("main/splitter", self.splitter.saveState())
        settings.setValue("main/columns", self.model.extra_columns)
        self.indexing.shutdown()
        super().closeEvent(event)
