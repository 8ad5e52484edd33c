"""The Datasets tab: datasets and versions, drop to add, preview, statistics, diff, validation, lineage.

Every disk or index access runs in a background job (``ui.ops.OpGroup``); the GUI
thread only lays out results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labdeck.datasets import tabular
from labdeck.datasets.dvc import find_dvc
from labdeck.datasets.report import size_text
from labdeck.datasets.store import Store, StoreError
from labdeck.tasks import Task
from labdeck.ui.changes import DATASETS, RUNS
from labdeck.ui.ops import OpGroup
from labdeck.ui.views._view import View
from labdeck.ui.views._datasets_actions import RulesDialog, VersionActions
from labdeck.ui.views._datasets_histogram import ROW_SIZE, histogram_widget
from labdeck.ui.views._datasets_support import (
    THUMB,
    AddDialog,
    FrameModel,
    default_name,
    fit_columns,
    short,
    when,
)
from labdeck.workspace import Workspace

if TYPE_CHECKING:
    from labdeck.datasets.service import Datasets

TITLE = "Datasets"
ORDER = 20
PREVIEW_ROWS = 50
HISTOGRAM_COLUMN = 7  # the stats tree's last column
MAX_THUMBS = 48
ROLE = Qt.ItemDataRole.UserRole


def create(workspace: Workspace, parent=None) -> View:
    return DatasetsView(workspace, parent)


def store_thumbnails(store: Store, items: list[tuple[str, str]], task: Task) -> list[tuple[str, QImage]]:
    """(name, image scaled to THUMB px) for each (name, digest); read as bytes, since an object may be packed."""
    out = []
    for i, (rel, digest) in enumerate(items):
        task.check()
        task.report(i, len(items), "thumbnails")
        try:
            img = QImage.fromData(store.read_object(digest))
        except StoreError:
            continue  # a missing object shows no thumbnail; verify names it
        if not img.isNull():
            out.append((rel, img.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                        Qt.TransformationMode.SmoothTransformation)))
    return out


class DatasetsView(VersionActions, View):
    shows = frozenset({DATASETS, RUNS})  # runs: a version's lineage

    @property
    def datasets(self) -> Datasets:
        """The dataset service, made on first use, not with the tab: its module loads
        SQLAlchemy, which held up the app's first page. The list reads without it
        (``refresh``); the app preloads the module on a worker once the first page shows."""
        return self.workspace.datasets

    def __init__(self, workspace: Workspace, parent=None) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.jobs = OpGroup(self, "datasets")
        self.add_dialog: AddDialog | None = None
        self.rules_dialog: RulesDialog | None = None
        self._add_job = None
        self.setAcceptDrops(True)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Dataset / version", "Files", "Size", "Created", "Runs", "Message"])
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(self._choose_folder)
        self.compare_button = QPushButton("Compare two versions")
        self.compare_button.clicked.connect(self.compare_selected)
        self.validate_button = QPushButton("Validate")
        self.validate_button.clicked.connect(self.validate_selected)
        self.rules_button = QPushButton("Rules…")
        self.rules_button.clicked.connect(self.edit_rules)
        self.verify_button = QPushButton("Verify")
        self.verify_button.clicked.connect(self.verify_selected)
        self.checkout_button = QPushButton("Check out…")
        self.checkout_button.clicked.connect(self.checkout_selected)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self._cancel_add)
        self.status = QLabel("Drop a file or folder here to add a dataset version.")
        self.status.setWordWrap(True)

        self.files = QTreeWidget()
        self.files.setHeaderLabels(["Path", "Size", "Hash"])
        self.files.itemSelectionChanged.connect(self._file_selected)
        self.preview = QTableView()
        self.preview_model = FrameModel(self)
        self.preview.setModel(self.preview_model)
        self.stats = QTreeWidget()
        self.stats.setHeaderLabels(["Column", "Type", "Nulls", "Distinct", "Min", "Max", "Mean", "Histogram"])
        self.preview_label = QLabel()
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        preview_box = QWidget()
        pv = QVBoxLayout(preview_box)
        pv.addWidget(self.preview_label)
        pv.addWidget(self.image)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.preview)
        split.addWidget(self.stats)
        pv.addWidget(split, 1)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListWidget.ViewMode.IconMode)
        self.thumbs.setIconSize(QPixmap(THUMB, THUMB).size())
        self.thumbs.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.validation = QPlainTextEdit()
        self.validation.setReadOnly(True)
        self.lineage = QTreeWidget()
        self.lineage.setHeaderLabels(["Run", "Name", "Dataset version", "Context"])
        self.lineage.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.run_ref = QLineEdit()
        self.run_ref.setPlaceholderText("run id: show the dataset versions it used")
        self.run_ref.returnPressed.connect(self._inputs_of_run)
        lineage_box = QWidget()
        lv = QVBoxLayout(lineage_box)
        lv.addWidget(self.lineage)
        lv.addWidget(self.run_ref)

        self.details = QTabWidget()
        self.details.addTab(self.files, "Files")
        self.details.addTab(preview_box, "Preview")
        self.details.addTab(self.thumbs, "Images")
        self.details.addTab(self.diff, "Diff")
        self.details.addTab(self.validation, "Validation")
        self.details.addTab(lineage_box, "Lineage")

        buttons = QHBoxLayout()
        for w in (self.add_button, self.compare_button, self.validate_button, self.rules_button, self.verify_button,
                  self.checkout_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(self.progress)
        buttons.addWidget(self.cancel_button)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(self.tree)
        main.addWidget(self.details)
        main.setSizes([420, 600])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(main, 1)
        layout.addWidget(self.status)
        self.refresh_when_shown()

    # Listing -------------------------------------------------------------------

    def refresh(self) -> None:
        workspace = self.workspace

        def load(_task):
            ds = workspace.dataset_listing  # plain SQL: the list needs none of the service's libraries
            infos = ds.list()
            dvc = [(p.path, e) for p in workspace.projects() for e in find_dvc(p.path)]
            return infos, {i.name: ds.versions(i.name) for i in infos}, ds.use_counts(), dvc

        self.jobs.start(load, self._show_list)

    def _show_list(self, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(f"Cannot list datasets: {result}")
            return
        infos, versions, uses, dvc = result
        self.tree.clear()
        for info in infos:
            top = QTreeWidgetItem([info.name, "", "", "", "", f"{info.versions} version(s)"])
            top.setData(0, ROLE, (info.name, None))
            for v in reversed(versions[info.name]):
                item = QTreeWidgetItem([
                    f"version {v.version}", str(v.file_count), size_text(v.total_bytes),
                    when(v.created_at), str(uses.get(v.digest, 0)), v.message,
                ])
                item.setData(0, ROLE, (info.name, v.version))
                top.addChild(item)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        if dvc:
            group = QTreeWidgetItem(["DVC-tracked (read-only)", "", "", "", "", f"{len(dvc)} output(s)"])
            group.setData(0, ROLE, ("", None))
            for project, e in dvc:
                size = "" if e.size is None else size_text(e.size)
                where = e.defined_in + (f" stage {e.stage}" if e.stage else "")
                item = QTreeWidgetItem([e.path, str(e.nfiles or ""), size, "", "",
                                        e.error or f"md5 {e.md5} · {where}" + ("" if e.present else " · not present")])
                item.setToolTip(0, f"{project}/{e.path}")
                item.setData(0, ROLE, ("", None))
                group.addChild(item)
            self.tree.addTopLevelItem(group)
            group.setExpanded(True)
        fit_columns(self.tree)

    def selected_versions(self) -> list[tuple[str, int]]:
        out = []
        for item in self.tree.selectedItems():
            name, version = item.data(0, ROLE)
            if not name:
                continue  # DVC rows are shown, not versioned here
            if version is None and item.childCount():
                version = item.child(0).data(0, ROLE)[1]  # a dataset row stands for its latest version
            if version is not None:
                out.append((name, version))
        return out

    def _selection_changed(self) -> None:
        chosen = self.selected_versions()
        if len(chosen) != 1:
            return
        name, version = chosen[0]
        ds = self.datasets

        def load(_task):
            return ds.files(name, version), ds.runs_using(name, version)

        self.jobs.start(load, lambda r: self._show_version(name, version, r))

    def _show_version(self, name: str, version: int, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(str(result))
            return
        files, uses = result
        self.files.clear()
        for f in files:
            item = QTreeWidgetItem([f.path, size_text(f.size), f.digest[:12]])
            item.setData(0, ROLE, (f.path, f.digest))
            self.files.addTopLevelItem(item)
        fit_columns(self.files)
        self.lineage.clear()
        for u in uses:
            texts = [u.run_id, u.run_name, f"{u.dataset}:{u.version}", u.context]
            item = QTreeWidgetItem(texts)
            for c, text in enumerate(texts):
                item.setToolTip(c, text)
            self.lineage.addTopLevelItem(item)
        fit_columns(self.lineage)  # names in full; the tree elides only when the pane is too narrow
        images = [(f.path, f.digest) for f in files if tabular.is_image(f.path)][:MAX_THUMBS]
        self.thumbs.clear()
        if images:
            store = self.datasets.store
            self.jobs.start(lambda task: store_thumbnails(store, images, task), self._show_thumbs)
        self.status.setText(f"{name} version {version}: {len(files)} file(s), used by {len(uses)} run(s)")

    def _show_thumbs(self, result) -> None:
        if isinstance(result, Exception):
            return
        self.thumbs.clear()
        for rel, img in result:
            self.thumbs.addItem(QListWidgetItem(QPixmap.fromImage(img), Path(rel).name))

    # Preview ---------------------------------------------------------------------

    def _file_selected(self) -> None:
        items = self.files.selectedItems()
        if not items:
            return
        rel, digest = items[0].data(0, ROLE)
        ds = self.datasets
        if tabular.tabular_format(rel):
            self.jobs.start(lambda _t: ds.preview(digest, rel, PREVIEW_ROWS),
                            lambda r: self._show_table(rel, r))
        elif tabular.is_image(rel):
            self.jobs.start(lambda t: store_thumbnails(ds.store, [(rel, digest)], t), lambda r: self._show_image(rel, r))
        else:
            self.preview_label.setText(f"{rel}: no preview for this kind of file")

    def _show_table(self, rel: str, result) -> None:
        if isinstance(result, Exception):
            self.preview_label.setText(str(result))
            return
        head, prof = result
        self.image.clear()
        self.preview_model.set_frame(head)
        self.preview.resizeColumnsToContents()
        self.preview_label.setText(f"{rel}: {prof.rows} rows, {len(prof.schema)} columns")
        self.stats.clear()
        for col, st in prof.columns.items():
            item = QTreeWidgetItem([
                col, st.type, str(st.nulls), "" if st.distinct is None else str(st.distinct), short(st.min),
                short(st.max), short(st.mean), "",
            ])
            self.stats.addTopLevelItem(item)
            if st.histogram is not None:
                hist = st.histogram
                self.stats.setItemWidget(item, HISTOGRAM_COLUMN, histogram_widget(list(hist.counts), list(hist.edges)))
        fit_columns(self.stats)
        self.stats.setColumnWidth(HISTOGRAM_COLUMN, ROW_SIZE[0] + 8)
        self.details.setCurrentIndex(1)

    def _show_image(self, rel: str, result) -> None:
        if isinstance(result, Exception) or not result:
            self.preview_label.setText(f"{rel}: cannot read the image")
            return
        self.preview_model.set_frame(None)
        self.stats.clear()
        self.preview_label.setText(rel)
        self.image.setPixmap(QPixmap.fromImage(result[0][1]))
        self.details.setCurrentIndex(1)

    # Adding: drop or choose ----------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls() and all(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if len(paths) != 1:
            self.status.setText("Drop one file or folder at a time: each becomes one dataset version.")
            return
        event.acceptProposedAction()
        self.offer_add(paths[0])

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder as a dataset version")
        if path:
            self.offer_add(path)

    def offer_add(self, path: str) -> None:
        """Ask for the dataset name (suggesting the dataset the path matches), then add."""
        ds = self.datasets
        self.jobs.start(lambda _t: ([i.name for i in ds.list()], ds.match_existing(path) or default_name(path)),
                        lambda r: self._ask_name(path, r))

    def _ask_name(self, path: str, result) -> None:
        if isinstance(result, Exception):
            self.status.setText(str(result))
            return
        names, suggestion = result
        self.add_dialog = AddDialog(path, names, suggestion, self)
        self.add_dialog.accepted.connect(lambda d=self.add_dialog: self._start_add(d))
        self.add_dialog.open()

    def _start_add(self, dialog: AddDialog) -> None:
        name, path, message = dialog.name.currentText().strip(), dialog.path, dialog.message.text()
        self.status.setText(f"Adding {path} to {name}…")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel_button.setVisible(True)
        ds = self.datasets
        self._add_job = self.jobs.start(lambda task: ds.add(name, path, message=message, task=task), self._added)
        self._add_job.progressed.connect(self._add_progress)

    def _add_progress(self, done: int, total: int, _message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _cancel_add(self) -> None:
        if self._add_job is not None and self._add_job.task is not None:
            self._add_job.task.cancel()

    def _added(self, result) -> None:
        self._add_job = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        if isinstance(result, Exception):
            text = str(result.args[0]) if result.args else type(result).__name__
            self.status.setText(f"Nothing was added: {text or 'cancelled'}")
            return
        notes = [f"skipped {s}" for s in result.skipped] + [f"warning: {p.file} {p.message}" for p in result.problems]
        if result.version is None:
            head = f"{result.name}: identical to version {result.identical_to}; no new version"
        else:
            v = result.version
            head = (f"{result.name} version {v.version}: {v.file_count} file(s), {size_text(v.total_bytes)} "
                    f"({result.hashed} hashed, {result.cached} unchanged) in {result.seconds:.2f} s")
        self.status.setText("\n".join([head, *notes[:6]]))
        self.announce(DATASETS)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.jobs.shutdown()
        super().closeEvent(event)
