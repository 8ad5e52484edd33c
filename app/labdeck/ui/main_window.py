"""The main window: projects sidebar, runs table, details pane and the analysis area
(compare plots, params vs metrics, diff), with other capabilities' views as tabs.

It wires the panels together; every read goes through ``ops.ReadChannels`` (worker threads) and
the panels' own modules hold the behaviour.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
)

from labdeck.db.entities import RunInfo
from labdeck.paths import normalise
from labdeck.tasks import Cancelled
from labdeck.ui import ops, window_state
from labdeck.ui.analysis import AnalysisTabs
from labdeck.ui.changes import DATASETS, JOBS, MODELS, PROJECTS, RUNS, Changes
from labdeck.ui.ops import ReadChannels
from labdeck.ui.details import RunDetails
from labdeck.ui.indexing import IndexingService
from labdeck.ui.runs_panel import RunsPanel
from labdeck.ui.sidebar import ProjectsSidebar, Scope
from labdeck.ui.views import view_modules
from labdeck.ui.views._view import View
from labdeck.ui.views.jobs import JobsView
from labdeck.ui.warnings_dialog import WarningsDialog
from labdeck.workspace import Workspace

MAX_ANALYSED = 1000  # runs handed to scatter / parallel coordinates (compare draws 100)


class MainWindow(QMainWindow):
    def __init__(
        self,
        workspace: Workspace,
        *,
        watch: bool = True,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.settings = (
            settings if settings is not None else window_state.default_settings()
        )
        self.store = workspace.reads
        self.background = ReadChannels(self)
        self.background.failed.connect(
            lambda ch, msg: self.statusBar().showMessage(f"{ch}: {msg}", 8000)
        )
        self.setWindowTitle("labdeck")
        self.setAcceptDrops(True)
        self.indexing = IndexingService(workspace, self)
        self.changes = Changes(self)  # what changed, said once to every part of the window
        self._build()
        self._connect()
        scope = window_state.restore(self, self.settings)
        self.runs.project, self.runs.experiment = scope.project, scope.experiment
        self.runs.recall_columns()
        self.runs.run_query()  # first: the table is what the user waits for
        self.reload_projects(select=scope)
        self.runs.refresh_keys()
        self._watch = watch

    def start_indexing(self) -> None:
        """The app's start-up pass over every project, after the watcher starts (with
        ``watch``). ``run_app`` calls it once the first page of runs is on screen: both load
        the readers and SQLAlchemy, which the first page does without."""
        if self._watch:
            self.indexing.start_watching()
        self.indexing.index(None)

    # Construction ----------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = ProjectsSidebar()
        self.runs = RunsPanel(self.store, self.background)
        self.runs.column_memory = self.settings
        self.details = RunDetails()
        self.analysis = AnalysisTabs(self.store, self.background)
        self.compare = self.analysis.compare

        self.centre = QSplitter(Qt.Orientation.Vertical)
        self.centre.setObjectName("centreSplitter")
        self.centre.addWidget(self.runs)
        self.centre.addWidget(self.analysis)
        self.centre.setSizes([300, 560])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.centre)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([180, 860, 400])

        self.tabs = QTabWidget()
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.splitter, "Runs")
        self.views: dict[str, View] = {}
        for module in view_modules():
            view = module.create(self.workspace, self)
            self.views[module.TITLE] = view
            self.tabs.addTab(view, module.TITLE)
            view.run_requested.connect(self.show_run)  # e.g. a job's run: show it in the Runs tab
            view.attach(self.changes)
        self.setCentralWidget(self.tabs)
        self.details.reproduce_requested.connect(self.reproduce_run)

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
        # Owned by the window, so it dies with it (a bare singleShot lambda would outlive it).
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.setInterval(1500)
        self._idle_timer.timeout.connect(lambda: self._busy(self.indexing.busy))
        status = self.statusBar()
        status.addPermanentWidget(self.state_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.warnings_button)

        refresh = QAction("Rescan", self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(lambda: self.indexing.index(None))
        self.addAction(refresh)
        find = QAction("Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.runs.query.setFocus())
        self.addAction(find)

    def _connect(self) -> None:
        self.sidebar.scope_changed.connect(
            lambda scope: self.runs.set_scope(scope.project, scope.experiment)
        )
        self.sidebar.add_requested.connect(self.choose_project)
        self.sidebar.remove_requested.connect(self.remove_project)
        self.sidebar.rescan_requested.connect(lambda: self.indexing.index(None))
        self.runs.selection_changed.connect(self._selection_changed)
        self.runs.compare_requested.connect(self._show_compare)
        self.runs.group_changed.connect(self.compare.set_group_by)
        self.analysis.select_runs.connect(self._select_run_ids)
        self.indexing.progressed.connect(self._progress)
        self.indexing.busy_changed.connect(self._busy)
        self.indexing.pass_finished.connect(self._pass_finished)
        self.indexing.changed.connect(lambda: self.changes.announce(RUNS))
        self.runs.hid_runs.connect(lambda: self.changes.announce(RUNS, PROJECTS))
        self.changes.changed.connect(self._on_changes)

    # Shortcuts to the panels (tests and the screenshot verb drive these) -----

    @property
    def query(self):
        return self.runs.query

    @property
    def query_error(self):
        return self.runs.query_error

    @property
    def table(self):
        return self.runs.table

    @property
    def model(self):
        return self.runs.model

    def selected_runs(self) -> list[RunInfo]:
        return self.runs.selected_runs()

    def reproduce_run(self, run_id: str) -> None:
        """Hand the run to the Jobs tab, which shows the reproduction plan before launching."""
        jobs = next(view for view in self.views.values() if isinstance(view, JobsView))
        self.tabs.setCurrentWidget(jobs)
        jobs.start_reproduce(run_id)  # the Jobs tab announces the job it queues

    def run_query(self) -> None:
        self.runs.run_query()

    # Projects --------------------------------------------------------------

    def reload_projects(self, select: Scope | None = None) -> None:
        def show(found: tuple[list, list]) -> None:
            self.sidebar.set_projects(found[0], found[1], select=select)
            scope = self.sidebar.scope()
            if (scope.project, scope.experiment) != (
                self.runs.project,
                self.runs.experiment,
            ):
                self.runs.set_scope(scope.project, scope.experiment)

        self.background.submit("projects", self.store.projects, show)
        self._update_warnings()

    def current_project(self) -> str | None:
        return self.sidebar.current_project()

    def add_project(self, path: str) -> None:
        def add() -> tuple[str, bool, bool]:  # on a worker: resolving the path touches the disk
            folder, created = self.workspace.add_project(path)
            return folder, created, folder != normalise(path)

        def added(result: tuple[str, bool, bool]) -> None:
            folder, _created, held = result
            if held:  # runs are listed once, under the project that holds the folder
                self.statusBar().showMessage(f"{path} is inside the project {folder}: its runs are shown there", 8000)
            self.changes.announce(PROJECTS)
            self.indexing.projects_changed()
            self.indexing.index(folder)

        self.background.submit(
            f"add:{path}",
            add,
            added,
            on_error=lambda exc: QMessageBox.warning(self, "labdeck", str(exc)),
        )

    def choose_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a project folder")
        if folder:
            self.add_project(folder)

    def remove_project(self, path: str) -> None:
        def removed(_ok: bool) -> None:
            self.indexing.projects_changed()
            self.changes.announce(PROJECTS, RUNS)

        self.background.submit(
            "remove", lambda: self.workspace.remove_project(path), removed
        )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(Path(u.toLocalFile()).is_dir() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if Path(url.toLocalFile()).is_dir():
                self.add_project(url.toLocalFile())
        event.acceptProposedAction()

    # Selection -------------------------------------------------------------

    def _selection_changed(self, pks: list[int]) -> None:
        self._show_details(pks)
        chosen = pks[:MAX_ANALYSED]
        self.background.submit(
            "selection", lambda: self.store.runs(chosen), self.analysis.set_runs
        )
        self.analysis.set_selected_pks(pks)

    def _show_details(self, pks: list[int]) -> None:
        # Details follow the current row (the one last clicked) while several are selected.
        focus = self.model.pk_of(self.table.currentIndex())
        pk = focus if focus in pks else (pks[0] if pks else None)
        if pk is not None:
            self.background.submit(
                "detail", lambda: self.store.detail(pk), self.details.show_detail
            )
        else:
            self.background.invalidate("detail")
            self.details.show_message("Select a run to see its details.")

    def _select_run_ids(self, ids: list[str]) -> None:
        def select(found: dict[str, int]) -> None:
            self.runs.select_pks(list(found.values()))

        self.background.submit(
            "select-ids", lambda: self.store.pks_for_ids(ids), select
        )

    def show_run(self, run_id: str) -> None:
        """Bring the Runs tab forward with ``run_id`` selected (and scrolled into view)."""
        self.tabs.setCurrentWidget(self.splitter)
        self._select_run_ids([run_id])

    def _show_compare(self) -> None:
        self.analysis.setCurrentWidget(self.compare)

    def _on_changes(self, kinds: frozenset[str]) -> None:
        """Refresh what shows the kinds of things that changed (the views see to themselves)."""
        if RUNS in kinds:  # new points or runs: re-query but keep the selection and the scroll position
            self.runs.run_query(keep_selection=True)
            self.runs.refresh_keys()
            self.state_label.setText("live: updated")
            self._idle_timer.start()
        if kinds & {RUNS, PROJECTS}:  # the sidebar counts runs
            self.reload_projects()
        if kinds & {MODELS, DATASETS, JOBS} and RUNS not in kinds:
            self._show_details(self.runs.selected_pks())  # a run's details list its models, inputs, jobs

    # Indexing feedback -----------------------------------------------------

    def _progress(self, done: int, total: int, message: str) -> None:
        self.progress.setMaximum(max(total, 0))
        self.progress.setValue(done)
        self.state_label.setText(f"indexing {message}")

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.state_label.setText(
                "watching" if self.indexing.watching else "idle"
            )

    def _pass_finished(self, result: object) -> None:
        if isinstance(result, Cancelled):
            self.statusBar().showMessage("indexing cancelled", 8000)
        elif isinstance(result, Exception):
            QMessageBox.warning(self, "labdeck", f"Indexing failed: {result}")
            return
        # A pass finds runs, and the models registered in the MLflow stores it reads.
        self.changes.announce(RUNS, PROJECTS, MODELS)

    def _update_warnings(self) -> None:
        def show(count: int) -> None:
            self.warnings_button.setText(
                f"{count} warning{'s' if count != 1 else ''}"
                if count
                else "No warnings"
            )

        self.background.submit("warnings", lambda: len(self.workspace.warnings()), show, lowly=True)  # as "keys"

    def show_warnings(self) -> None:
        self.background.submit(
            "warnings-dialog",
            self.workspace.warnings,
            lambda ws: WarningsDialog(ws, self).open(),
        )

    # Settings --------------------------------------------------------------

    def closeEvent(self, event) -> None:
        window_state.save(self, self.settings)
        self.indexing.shutdown()
        ops.shutdown()  # every read pool and operation: cancelled, their threads joined
        super().closeEvent(event)
