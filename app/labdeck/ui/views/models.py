"""The Models tab: versions with their state, review actions, register from a run, push, the audit log.

Every call into the index, the disk or a registry runs on a worker thread; results and
progress come back through queued signals, so the window never waits on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labdeck.tasks import Task
from labdeck.ui.changes import MODELS, RUNS
from labdeck.ui.ops import OpRunner
from labdeck.ui.views import _models_columns as columns
from labdeck.workspace import Workspace
from labdeck.ui.views._view import View

if TYPE_CHECKING:
    from labdeck.models.publish import Publisher
    from labdeck.models.versions import ModelService

TITLE = "Models"
ORDER = 30

ACTIONS = ("submit", "approve", "reject", "revoke")
VERSION_COLUMNS = columns.headers([])
LOG_COLUMNS = ["#", "Version", "Action", "From", "To", "By", "Comment"]


class ModelsView(View):
    shows = frozenset({MODELS, RUNS})  # runs: the candidates to register, versions' metrics

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.reads = OpRunner(self, "models-read")  # listings and the log
        self.actions = OpRunner(self, "models-action")  # register, transitions, push: with progress and Cancel
        self.actions.progressed.connect(self._on_progress)
        self._message = ""
        self._versions: list = []
        self._candidates: list = []
        self._build()
        self.refresh_when_shown()

    # The services are made on first use, by the tab's first refresh on a worker (their modules
    # load SQLAlchemy; made here, they held up the app's first page).
    @property
    def models(self) -> ModelService:
        return self.workspace.models

    @property
    def publisher(self) -> Publisher:
        return self.workspace.publisher

    # Construction ---------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        register_row = QHBoxLayout()
        self.candidates = QComboBox(objectName="candidates")
        self.candidates.setMinimumContentsLength(40)
        self.name_edit = QLineEdit(objectName="model_name", placeholderText="model name")
        self.register_button = QPushButton("Register", objectName="register")
        self.register_button.clicked.connect(self.register)
        self.candidates.currentIndexChanged.connect(self._suggest_name)
        self.find_button = QPushButton("Find models in runs", objectName="find_models")
        self.find_button.clicked.connect(self.find_candidates)
        register_row.addWidget(self.find_button)
        register_row.addWidget(self.candidates, 1)
        register_row.addWidget(self.name_edit)
        register_row.addWidget(self.register_button)
        refresh = QPushButton("Refresh", objectName="refresh")
        refresh.clicked.connect(self.refresh)
        register_row.addWidget(refresh)
        layout.addLayout(register_row)

        self.table = QTableWidget(0, len(VERSION_COLUMNS), objectName="versions")
        self.table.setHorizontalHeaderLabels(VERSION_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 2)

        review = QHBoxLayout()
        self.comment = QLineEdit(objectName="comment", placeholderText="comment (why)")
        review.addWidget(self.comment, 1)
        self.action_buttons: dict[str, QPushButton] = {}
        for action in ACTIONS:
            b = QPushButton(action.capitalize(), objectName=action)
            b.clicked.connect(lambda _=False, a=action: self.transition(a))
            review.addWidget(b)
            self.action_buttons[action] = b
        self.card_button = QPushButton("Edit/Export card", objectName="card")
        self.card_button.clicked.connect(self.open_card)
        review.addWidget(self.card_button)
        layout.addLayout(review)

        push_row = QHBoxLayout()
        self.registries = QComboBox(objectName="registries")
        self.alias = QLineEdit(objectName="alias", placeholderText="alias (optional)")
        self.push_button = QPushButton("Push", objectName="push")
        self.push_button.clicked.connect(self.push)
        self.progress = QProgressBar(objectName="progress")
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel", objectName="cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(lambda: self.actions.task and self.actions.task.cancel())
        for w in (QLabel("Registry:"), self.registries, self.alias, self.push_button, self.progress,
                  self.cancel_button):
            push_row.addWidget(w)
        layout.addLayout(push_row)

        self.status = QLabel("", objectName="status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.audit_label = QLabel("Approval log", objectName="audit")
        layout.addWidget(self.audit_label)
        self.log = QTableWidget(0, len(LOG_COLUMNS), objectName="log")
        self.log.setHorizontalHeaderLabels(LOG_COLUMNS)
        self.log.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.log.horizontalHeader().setStretchLastSection(True)
        self.log.verticalHeader().setVisible(False)
        layout.addWidget(self.log, 1)
        self._update_buttons()

    # Loading ----------------------------------------------------------------------

    def refresh(self) -> None:
        def load(_task: Task):
            versions = self.models.versions()
            approved: dict[tuple[str, int], int] = {}
            for name in sorted({v.name for v in versions}):
                approved.update({(name, n): t for n, t in columns.approved_times(self.models.history(name)).items()})
            return versions, self.publisher.registries(), approved

        self.reads.run(load, self._loaded, queue=True)

    def find_candidates(self) -> None:
        """Walk the indexed runs' artifacts for models (on demand: it reads many folders)."""
        self.status.setText("looking for models in runs…")
        self.reads.run(lambda task: self.models.candidates(task=task), self._candidates_loaded, queue=True)

    def _candidates_loaded(self, result: Any) -> None:
        if self._failed(result):
            return
        self._candidates = result
        self.candidates.clear()
        for c in result:
            self.candidates.addItem(f"{c.run_name} ({c.run_id}): {c.candidate.rel} [{c.candidate.format}]")
        self.status.setText(f"{len(result)} model(s) found in runs")

    def _loaded(self, result: Any) -> None:
        if self._failed(result):
            return
        versions, registries, approved = result
        selected = self._selected()
        self._versions = versions
        metrics = columns.metric_columns(versions)
        header = columns.headers(metrics)
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        self.table.setRowCount(len(versions))
        for row, v in enumerate(versions):
            cells = columns.version_cells(v, metrics, approved.get((v.name, v.version)))
            for col, (text, tip) in enumerate(cells):
                item = QTableWidgetItem(text)
                if tip:
                    item.setToolTip(tip)
                self.table.setItem(row, col, item)
            if selected is not None and v.ref == selected.ref:
                self.table.selectRow(row)
        current = self.registries.currentText()
        self.registries.clear()
        self.registries.addItems([r.name for r in registries])
        if current:
            self.registries.setCurrentText(current)
        self.status.setText(self._message or f"{len(versions)} version(s)")
        self._message = ""
        self._selection_changed()

    def _suggest_name(self, index: int) -> None:
        if 0 <= index < len(self._candidates) and not self.name_edit.text():
            self.name_edit.setText(self._candidates[index].candidate.name)

    def _selected(self):
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self._versions):
            return None
        return self._versions[rows[0].row()]

    def _selection_changed(self) -> None:
        self._update_buttons()
        mv = self._selected()
        if mv is None:
            self.log.setRowCount(0)
            self.audit_label.setText("Approval log")
            return
        name, number = mv.name, mv.version

        def load(_task: Task):
            # The log of the selected version only; the audit still checks the whole chain.
            return self.models.history(name, number), self.models.audit(name)

        self.reads.run(load, self._log_loaded, queue=True)

    def _log_loaded(self, result: Any) -> None:
        if self._failed(result):
            return
        entries, report = result
        self.log.setRowCount(len(entries))
        for row, e in enumerate(entries):
            for col, text in enumerate([str(e.seq), str(e.version), e.action, e.from_state or "-", e.to_state,
                                        e.actor, e.comment]):
                self.log.setItem(row, col, QTableWidgetItem(text))
        verdict = "hash chain intact" if report.ok else "TAMPERED: " + "; ".join(report.problems)
        self.audit_label.setText(f"Approval log of {report.name}:{entries[0].version if entries else '?'} "
                                 f"({len(entries)} of {report.entries} entries of the model): {verdict}")

    def _update_buttons(self) -> None:
        mv = self._selected()
        for button in self.action_buttons.values():
            button.setEnabled(mv is not None)
        self.card_button.setEnabled(mv is not None)
        self.push_button.setEnabled(mv is not None and mv.state in ("approved", "published"))

    # Actions -------------------------------------------------------------------------

    def transition(self, action: str) -> None:
        mv = self._selected()
        if mv is None:
            return
        comment = self.comment.text()
        self._start(lambda task: self.models.transition(mv.ref, action, comment, task=task),
                    lambda e: f"{mv.ref}: {e.from_state} -> {e.to_state} by {e.actor}")

    def open_card(self) -> None:
        """The card editor of the selected version: human sections, preview, Export (labdeck.ui.card_dialog)."""
        # Imported when asked: the dialog loads QtSvg, which the tab itself does not need.
        from labdeck.ui.card_dialog import open_card_dialog

        mv = self._selected()
        if mv is not None:
            self.card_dialog = open_card_dialog(self.workspace.cards, mv.ref, self)

    def register(self) -> None:
        index = self.candidates.currentIndex()
        if not 0 <= index < len(self._candidates):
            self.status.setText("no model candidate selected")
            return
        c = self._candidates[index]
        name = self.name_edit.text().strip()
        self._start(lambda task: self.models.register(c.run_id, c.candidate.path, name, task),
                    lambda mv: f"registered {mv.ref} ({mv.artifact_hash})")

    def push(self) -> None:
        mv = self._selected()
        registry = self.registries.currentText()
        if mv is None or not registry:
            self.status.setText("select an approved version and a registry (labdeck registry add NAME URI)")
            return
        alias = self.alias.text().strip()
        self._start(lambda task: self.publisher.push(mv.ref, registry, alias, task),
                    lambda o: f"pushed {mv.ref} to {o.push.registry} as version {o.push.remote_version}"
                    if o.created else f"{mv.ref} is already in {o.push.registry} as version {o.push.remote_version}")

    def _start(self, fn: Callable[[Task], Any], describe: Callable[[Any], str]) -> None:
        def finished(result: Any) -> None:
            self.progress.setVisible(False)
            self.cancel_button.setVisible(False)
            if not self._failed(result):
                self.comment.clear()
                self._message = describe(result)
                self.status.setText(self._message)
            else:
                self._message = self.status.text()
            self.announce(MODELS)  # even after a failure: part of it may have landed

        if not self.actions.run(fn, finished):
            self.status.setText("busy: wait for the current operation to finish")
            return
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
        self.progress.setFormat(message[:40])

    def _failed(self, result: Any) -> bool:
        if isinstance(result, Exception):
            text = str(result.args[0]) if result.args else type(result).__name__
            self.status.setText(f"refused: {text}" if "rule" in text else f"error: {text}")
            return True
        return False


def create(workspace: Workspace, parent: QWidget | None = None) -> View:
    return ModelsView(workspace, parent)


__all__ = ["ORDER", "TITLE", "ModelsView", "create"]
