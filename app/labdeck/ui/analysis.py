"""The analysis area under the runs table: Compare, Scatter, Parallel and Diff tabs, all fed
by the current selection."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from labdeck.db.entities import RunInfo
from labdeck.ui.ops import ReadChannels
from labdeck.ui.compare_panel import ComparePanel
from labdeck.ui.diff_view import DiffView
from labdeck.ui.params_view import ParallelView, ScatterView
from labdeck.run_reads import RunReads


class AnalysisTabs(QTabWidget):
    select_runs = Signal(list)  # run ids chosen by brushing

    def __init__(
        self, store: RunReads, background: ReadChannels, parent: QWidget | None = None
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
        # Views whose runs changed while they were hidden: each draws when it is shown, so a
        # selection redraws one view, not three (parallel coordinates alone took 60 ms).
        self._stale: set[QWidget] = set()
        self.currentChanged.connect(lambda i: self._feed(self.widget(i)))

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.runs = runs
        self._stale = {self.compare, self.scatter, self.parallel}
        self._feed(self.currentWidget())

    def _feed(self, view: QWidget) -> None:
        if view in self._stale:
            self._stale.discard(view)
            view.set_runs(self.runs)  # type: ignore[attr-defined]  # the three views above

    def set_selected_pks(self, pks: list[int]) -> None:
        self.diff.set_pks(pks)
