"""The analysis area under the runs table: Compare, Scatter, Parallel and Diff tabs, all fed
by the current selection."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from labdeck.db.entities import RunInfo
from labdeck.ui.background import Background
from labdeck.ui.compare_panel import ComparePanel
from labdeck.ui.diff_view import DiffView
from labdeck.ui.params_view import ParallelView, ScatterView
from labdeck.ui.store import RunStore


class AnalysisTabs(QTabWidget):
    select_runs = Signal(list)  # run ids chosen by brushing

    def __init__(
        self, store: RunStore, background: Background, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("analysis")
        self.setDocumentMode(True)
        self.compare = ComparePanel(store, background)
        self.scatter = ScatterView()
        self.parallel = ParallelView()
        self.diff = DiffView(store, background)
        self.parallel.select_runs.connect(self.select_runs)
        self.addTab(self.compare, "Compare")
        self.addTab(self.scatter, "Params vs metrics")
        self.addTab(self.parallel, "Parallel coordinates")
        self.addTab(self.diff, "Diff")
        self.runs: list[RunInfo] = []

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.runs = runs
        self.compare.set_runs(runs)
        self.scatter.set_runs(runs)
        self.parallel.set_runs(runs)

    def set_selected_pks(self, pks: list[int]) -> None:
        self.diff.set_pks(pks)
