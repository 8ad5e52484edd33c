"""The Jobs tab: the job queue, launch and reproduce dialogs, cancel, a log tail, and a GPU panel.

Every read (jobs, logs, NVML) and every launch runs on a thread pool; the GUI thread only
lays out results. The GPU panel plots utilisation and memory live when NVML sees GPUs,
and says "CPU only" (with the reason) otherwise.
"""

from __future__ import annotations

import shlex
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labdeck.launch import executors_config
from labdeck.launch.gpus import Inventory, default_inventory
from labdeck.ui.changes import JOBS
from labdeck.ui.ops import OpRunner
from labdeck.workspace import Workspace
from labdeck.ui.views._view import View

# The launch machinery (the jobs' tables, SQLAlchemy, the executors) is imported by the calls
# below, on the tab's workers, the first time the tab is shown: importing it with this module
# held up the app's first page of runs by about 0.4 s.
if TYPE_CHECKING:
    from labdeck.launch.gpus import InventorySnapshot
    from labdeck.launch.reproduce import Plan
    from labdeck.launch.submit import LaunchRequest

TITLE = "Jobs"
ORDER = 40
REFRESH_MS = 1000
LOG_TAIL_BYTES = 16_000
HISTORY = 120  # GPU samples kept per series (two minutes at one per second)
COLUMNS = ["Job", "Status", "Project", "Run", "GPUs", "Created", "Duration", "Verdict", "Command",
           "Message"]
RUN_COLUMN, COMMAND_COLUMN = COLUMNS.index("Run"), COLUMNS.index("Command")
COMMAND_MAX_PX = 380  # wider commands are elided in the middle (full text in the tooltip)


def create(workspace: Workspace, parent=None) -> View:
    return JobsView(workspace, parent)


class LaunchDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Launch a job")
        self.project = QLineEdit()
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.project)
        row.addWidget(browse)
        self.command = QLineEdit()
        self.command.setPlaceholderText("python train.py --epochs 3")
        self.gpus = QLineEdit("none")
        self.env = QComboBox()
        self.env.addItems(["current", "locked"])
        self.seed = QLineEdit()
        self.seed.setPlaceholderText("none")
        self.priority = QSpinBox()
        self.priority.setRange(-100, 100)
        self.executor = QComboBox()  # local, then the clusters of `labdeck executor add`
        self.executor.addItems(executors_config.names())
        # Asked of a cluster's engine (Slurm --cpus-per-task/--mem, Ray entrypoint resources);
        # 0 leaves the engine's default. A local job is not limited, so they are off for it.
        self.cpus = QSpinBox()
        self.cpus.setRange(0, 4096)
        self.cpus.setSpecialValueText("engine default")
        self.mem = QDoubleSpinBox()
        self.mem.setRange(0, 999999)
        self.mem.setDecimals(2)
        self.mem.setSuffix(" GB")
        self.mem.setSpecialValueText("engine default")
        self.executor.currentTextChanged.connect(self._executor_changed)
        self._executor_changed(self.executor.currentText())
        form = QFormLayout(self)
        form.addRow("Project (git)", row)
        form.addRow("Command", self.command)
        form.addRow("GPUs (N, UUIDs, none)", self.gpus)
        form.addRow("Environment", self.env)
        form.addRow("Seed", self.seed)
        form.addRow("Priority", self.priority)
        form.addRow("Run on", self.executor)
        form.addRow("CPUs", self.cpus)
        form.addRow("Memory", self.mem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _executor_changed(self, name: str) -> None:
        on_cluster = bool(name) and name != "local"
        for box in (self.cpus, self.mem):
            box.setEnabled(on_cluster)
            box.setToolTip("" if on_cluster else "asked of a cluster's engine; a local job is not limited")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Project folder")
        if folder:
            self.project.setText(folder)

    def request(self) -> LaunchRequest:
        from labdeck.launch.submit import LaunchRequest  # loaded already by the tab's first refresh

        seed = self.seed.text().strip()
        return LaunchRequest(
            command=tuple(shlex.split(self.command.text())), project=self.project.text().strip() or None,
            gpus=self.gpus.text().strip() or "none", env=self.env.currentText(),
            seed=int(seed) if seed else None, priority=self.priority.value(),
            executor=self.executor.currentText() or "local",
            cpus=self.cpus.value() or None if self.cpus.isEnabled() else None,
            mem_gb=self.mem.value() or None if self.mem.isEnabled() else None,
        )


class GpuPanel(QWidget):
    """Live utilisation and memory per GPU, or a plain "CPU only" with the reason."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel("GPUs: looking…")
        self.label.setWordWrap(True)
        self.plot: Any = None  # made at the first GPU sample: a CPU-only machine never needs it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        self._series: dict[str, tuple[deque, deque, Any, Any]] = {}
        self.samples = 0

    def _make_plot(self) -> Any:
        from labdeck.ui.plotting import pg

        plot = pg.PlotWidget()
        plot.setYRange(0, 100)
        plot.setLabel("left", "%")
        plot.setLabel("bottom", "seconds ago")
        plot.addLegend(offset=(5, 5))
        plot.setMinimumHeight(140)
        self.layout().addWidget(plot)
        return plot

    def update_snapshot(self, snap: InventorySnapshot) -> None:
        if snap.cpu_only:
            self.label.setText(f"CPU only — {snap.reason or 'no GPU found'}. Jobs run on the CPU.")
            if self.plot is not None:
                self.plot.hide()
            return
        from labdeck.ui.plotting import pg

        self.label.setText(f"{len(snap.gpus)} GPU(s), driver {snap.driver}, CUDA {snap.cuda}")
        if self.plot is None:
            self.plot = self._make_plot()
        self.plot.show()
        now = time.monotonic()
        self.samples += 1
        for g in snap.gpus:
            if g.uuid not in self._series:
                pen = pg.intColor(len(self._series), hues=8)
                util = self.plot.plot(name=f"{g.index} util", pen=pen)
                mem = self.plot.plot(name=f"{g.index} mem", pen=pg.mkPen(pen, style=Qt.PenStyle.DashLine))
                self._series[g.uuid] = (deque(maxlen=HISTORY), deque(maxlen=HISTORY), util, mem)
            times, values, util, mem = self._series[g.uuid]
            times.append(now)
            values.append((g.utilization_pct or 0, 100.0 * g.memory_used_mib / max(g.memory_total_mib, 1)))
            xs = [t - now for t in times]
            util.setData(xs, [v[0] for v in values])
            mem.setData(xs, [v[1] for v in values])


def _duration(job) -> str:
    if job.started_at is None:
        return ""
    end = job.ended_at if job.ended_at is not None else int(time.time() * 1000)
    s = max(0, end - job.started_at) / 1000
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _log_tail(workspace: Workspace, job_id: str) -> str:
    from labdeck.launch import control

    return control.read_logs(control.job(workspace, job_id), LOG_TAIL_BYTES)


def _public_run_id(job) -> str:
    from labdeck.launch.reproduce import public_run_id  # loaded by the refresh that read the jobs

    return public_run_id(job)


def _launch(workspace: Workspace, req: LaunchRequest):
    from labdeck.launch.submit import launch

    return launch(workspace, req)


def _make_plan(workspace: Workspace, run_id: str) -> Plan:
    from labdeck.launch.reproduce import make_plan

    return make_plan(workspace, run_id)


def _launch_plan(workspace: Workspace, plan: Plan):
    from labdeck.launch.reproduce import launch_plan

    return launch_plan(workspace, plan)


def _cancel_job(workspace: Workspace, job_id: str):
    from labdeck.launch import control

    return control.cancel(workspace, job_id)


def _jobs_and_verdicts(workspace: Workspace, known: set[str]) -> tuple[list, dict[str, str]]:
    """The jobs, and the verdict of each finished reproduction not judged yet (its metrics
    against the original's: a read of both runs' series, so on the worker, once per job)."""
    from labdeck.launch import control, submit  # noqa: F401 - submit: for the launch dialog, loaded here
    from labdeck.launch.reproduce import verdict

    jobs = control.jobs(workspace, limit=500)
    verdicts = {}
    for job in jobs:
        original = job.spec.reproduces
        if original and job.status == "succeeded" and job.id not in known:
            try:
                verdicts[job.id] = verdict(workspace, original, job).verdict.replace("_", " ")
            except Exception as exc:  # noqa: BLE001 - a missing run: say so in the cell
                verdicts[job.id] = f"unknown ({exc})"[:80]
    return jobs, verdicts


class JobsView(View):
    # run_requested (View): a job's run id, to show in the Runs tab
    shows = frozenset({JOBS})  # and polled while on screen: a job's state changes on its own

    def __init__(self, workspace: Workspace, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self._inventory: Inventory | None = None  # made on a worker: NVML starts there
        self._runners: dict[str, OpRunner] = {}  # one per kind of call: a refresh never waits on a launch
        self._in_flight: set[str] = set()
        self.jobs: list = []
        self.verdicts: dict[str, str] = {}  # job id -> reproduction verdict

        self.launch_button = QPushButton("Launch…")
        self.reproduce_button = QPushButton("Reproduce run…")
        self.cancel_button = QPushButton("Cancel job")
        self.launch_button.clicked.connect(self._launch_dialog)
        self.reproduce_button.clicked.connect(self._reproduce_dialog)
        self.cancel_button.clicked.connect(self._cancel)
        self.status = QLabel("")
        bar = QHBoxLayout()
        for w in (self.launch_button, self.reproduce_button, self.cancel_button):
            bar.addWidget(w)
        bar.addWidget(self.status, 1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.itemSelectionChanged.connect(self._refresh_logs)
        self.table.cellDoubleClicked.connect(self._cell_activated)
        self.logs = QPlainTextEdit()
        self.logs.setReadOnly(True)
        self.logs.setPlaceholderText("select a job to see its output")
        self.gpu_panel = GpuPanel()

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.logs)
        split.addWidget(self.gpu_panel)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split)

        # Polled only while on screen: a hidden tab, or a closed window, asks nothing of the
        # index or the GPUs (and starts no work after the window has shut its threads down).
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            self._inventory = default_inventory()
        return self._inventory

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        self.timer.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()
        super().hideEvent(event)

    # Background calls ---------------------------------------------------

    def _submit(self, what: str, fn: Callable[[], Any]) -> None:
        if what in self._in_flight:
            return  # the previous refresh is still running: skip, never pile up
        self._in_flight.add(what)
        runner = self._runners.get(what) or self._runners.setdefault(what, OpRunner(self, f"jobs-{what}"))

        def done(result: Any) -> None:
            failed = isinstance(result, Exception)
            self._done(what, None if failed else result, result if failed else None)

        runner.run(lambda _task: fn(), done)

    def refresh(self) -> None:
        known = set(self.verdicts)
        self._submit("jobs", lambda: _jobs_and_verdicts(self.workspace, known))
        self._submit("gpus", lambda: self.inventory.snapshot())
        self._refresh_logs()

    def selected_job(self):
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.jobs):
            return None
        return self.jobs[rows[0].row()]

    def _refresh_logs(self) -> None:
        job = self.selected_job()
        if job is not None:
            job_id = job.id
            self._submit("logs", lambda: (job_id, _log_tail(self.workspace, job_id)))

    def _done(self, what: str, result: Any, error: Exception | None) -> None:
        self._in_flight.discard(what)
        if error is not None:
            if what in ("launch", "plan", "reproduce", "cancel"):
                QMessageBox.warning(self, "labdeck", str(error.args[0] if error.args else error))
            else:
                self.status.setText(f"{what}: {error}")
            return
        if what == "jobs":
            jobs, verdicts = result
            self.verdicts.update(verdicts)
            self._show_jobs(jobs)
        elif what == "gpus":
            self.gpu_panel.update_snapshot(result)
        elif what == "logs":
            job = self.selected_job()
            job_id, (out, err) = result
            if job is not None and job.id == job_id:
                text = out + (("\n--- stderr ---\n" + err) if err else "")
                if text != self.logs.toPlainText():
                    self.logs.setPlainText(text)
                    self.logs.verticalScrollBar().setValue(self.logs.verticalScrollBar().maximum())
        elif what == "plan":
            self._confirm_plan(result)
        elif what in ("launch", "reproduce"):
            self.status.setText(f"queued job {result.id}")
            self.announce(JOBS)
        elif what == "cancel":
            self.status.setText(f"job {result.id}: cancel requested")
            self.announce(JOBS)

    def _show_jobs(self, jobs: list) -> None:
        selected = self.selected_job()
        self.jobs = jobs
        self.table.setRowCount(len(jobs))
        for r, j in enumerate(jobs):
            where = "" if j.executor == "local" else f" @ {j.executor}"  # a cluster job says which cluster
            command = " ".join(j.command)
            values = [j.id, j.status, j.project.rstrip("/").rsplit("/", 1)[-1], j.run_id and _public_run_id(j),
                      (",".join(j.gpus) or "cpu") + where,
                      time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created_at / 1000)),
                      _duration(j), self.verdicts.get(j.id, ""), command, j.message]
            tips = {COMMAND_COLUMN: command, RUN_COLUMN: "double-click: show the run in the Runs tab",
                    COLUMNS.index("Project"): j.project, COLUMNS.index("Message"): j.message}
            for c, v in enumerate(values):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem(v)
                    self.table.setItem(r, c, item)
                elif item.text() != v:
                    item.setText(v)
                if c in tips:
                    item.setToolTip(tips[c])
                if c == RUN_COLUMN and v:
                    font = item.font()
                    font.setUnderline(True)
                    item.setFont(font)
                    item.setForeground(self.palette().link())
        self._fit_columns()
        if selected is not None:
            for r, j in enumerate(jobs):
                if j.id == selected.id:
                    self.table.selectRow(r)
        self.cancel_button.setEnabled(any(not j.finished for j in jobs))

    def _fit_columns(self) -> None:
        """Columns as wide as their content; the command capped (elided in the middle), the
        message takes what is left."""
        header = self.table.horizontalHeader()
        for c in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(c)
        if header.sectionSize(COMMAND_COLUMN) > COMMAND_MAX_PX:
            header.resizeSection(COMMAND_COLUMN, COMMAND_MAX_PX)

    def _cell_activated(self, row: int, column: int) -> None:
        if column == RUN_COLUMN and row < len(self.jobs):
            item = self.table.item(row, column)
            if item is not None and item.text():
                self.run_requested.emit(item.text())

    # Actions --------------------------------------------------------------

    def _launch_dialog(self) -> None:
        dialog = LaunchDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            req = dialog.request()
        except ValueError as exc:
            QMessageBox.warning(self, "labdeck", f"bad input: {exc}")
            return
        self.start_launch(req)

    def start_launch(self, req: LaunchRequest) -> None:
        self._submit("launch", lambda: _launch(self.workspace, req))

    def _reproduce_dialog(self) -> None:
        dialog = QDialog(self)
        dialog.setWindowTitle("Reproduce a run")
        edit = QLineEdit()
        form = QFormLayout(dialog)
        form.addRow("Run id", edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        form.addRow(buttons)
        if dialog.exec() == QDialog.DialogCode.Accepted and edit.text().strip():
            self.start_reproduce(edit.text().strip())

    def start_reproduce(self, run_id: str) -> None:
        """Make the plan off the GUI thread; it is shown before anything is launched."""
        self._submit("plan", lambda: _make_plan(self.workspace, run_id))

    def _confirm_plan(self, plan: Plan) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Reproduce")
        box.setText(plan.text())
        if not plan.launchable:
            box.setIcon(QMessageBox.Icon.Warning)
            box.exec()
            return
        box.setStandardButtons(QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Ok).setText("Launch")
        self.plan_box = box  # tests answer it
        if box.exec() == QMessageBox.StandardButton.Ok:
            self._submit("reproduce", lambda: _launch_plan(self.workspace, plan))

    def _cancel(self) -> None:
        job = self.selected_job()
        if job is None or job.finished:
            return
        self._submit("cancel", lambda: _cancel_job(self.workspace, job.id))
