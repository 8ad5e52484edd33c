"""Overlay of one metric for the selected runs (pyqtgraph, peak-preserving downsampling)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from labdeck.db.entities import RunInfo, Series

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def run_colour(run_id: str) -> str:
    """The same run gets the same colour in every plot."""
    return PALETTE[int(run_id[:8], 16) % len(PALETTE)] if run_id else PALETTE[0]


class PlotPanel(QWidget):
    def __init__(self, load_series, parent=None) -> None:
        super().__init__(parent)
        self._load_series = load_series  # (run ids, metric) -> {run id: Series}
        self._runs: list[RunInfo] = []
        self.metric = QComboBox()
        self.metric.currentTextChanged.connect(self._redraw)
        self.plot = pg.PlotWidget(background=None)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "step")
        self.legend = self.plot.addLegend(offset=(-10, 10))
        item = self.plot.getPlotItem()
        # Every point stays in memory; drawing goes through peak-preserving downsampling
        # and only what is in view, so long series stay fluid.
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Metric"))
        top.addWidget(self.metric, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)

    def set_runs(self, runs: list[RunInfo]) -> None:
        self._runs = runs
        keys = sorted({k for r in runs for k in r.metrics})
        current = self.metric.currentText()
        self.metric.blockSignals(True)
        self.metric.clear()
        self.metric.addItems(keys)
        if current in keys:
            self.metric.setCurrentText(current)
        self.metric.blockSignals(False)
        self._redraw()

    def curves(self) -> list[pg.PlotDataItem]:
        return [i for i in self.plot.listDataItems() if isinstance(i, pg.PlotDataItem)]

    def _redraw(self, *_args) -> None:
        self.plot.clear()
        self.legend.clear()
        key = self.metric.currentText()
        if not key or not self._runs:
            return
        series: dict[str, Series] = self._load_series([r.id for r in self._runs], key)
        for run in self._runs:
            s = series.get(run.id)
            if s is None or len(s) == 0:
                continue
            values = np.where(np.isfinite(s.values), s.values, np.nan)
            self.plot.plot(
                s.steps, values, name=run.name, pen=pg.mkPen(run_colour(run.id), width=1.5), connect="finite"
            )
