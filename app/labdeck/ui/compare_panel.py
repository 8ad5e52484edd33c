"""The compare area: the selected runs' metrics as stacked or tabbed plots, with a shared
x axis choice, EMA smoothing, log y, and export of the plots (PNG/SVG) and data (CSV).

Series are read on a worker thread; a newer selection supersedes a load still running.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters as pg_exporters
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QScrollArea,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from labdeck.db.entities import RunInfo, Series
from labdeck.ui.background import Background
from labdeck.ui.curves import X_MODES, assign_colours, write_csv
from labdeck.ui.metric_plot import MetricPlot
from labdeck.ui.store import RunStore

MAX_RUNS = 100
STACK_MIN_HEIGHT = 170


class ComparePanel(QWidget):
    series_loaded = Signal()

    def __init__(
        self, store: RunStore, background: Background, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.background = background
        self.runs: list[RunInfo] = []
        self.series: dict[str, dict[str, Series]] = {}  # run id -> metric -> points
        self.plots: dict[str, MetricPlot] = {}
        self._wanted: list[
            str
        ] = []  # metric keys the user ticked (kept across selections)
        self._build()

    def _build(self) -> None:
        self.metrics = QListWidget()
        self.metrics.setObjectName("compareMetrics")
        self.metrics.itemChanged.connect(lambda _i: self._metrics_ticked())
        self.x_axis = QComboBox()
        self.x_axis.addItems(X_MODES)
        self.x_axis.currentTextChanged.connect(lambda _t: self.redraw())
        self.layout_choice = QComboBox()
        self.layout_choice.addItems(["stacked", "tabbed"])
        self.layout_choice.currentTextChanged.connect(lambda _t: self._rebuild_plots())
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setToolTip("EMA smoothing (the raw curve stays faint behind)")
        self.smoothing.valueChanged.connect(self._smoothing_moved)
        self.smoothing_label = QLabel("0.00")
        self.log_y = QCheckBox("log y")
        self.log_y.toggled.connect(lambda _on: self.redraw())
        export = QToolButton()
        export.setText("Export")
        export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(export)
        menu.addAction("Plots as PNG…", lambda: self._export_dialog("png"))
        menu.addAction("Plots as SVG…", lambda: self._export_dialog("svg"))
        menu.addAction("Data as CSV…", lambda: self._export_dialog("csv"))
        export.setMenu(menu)

        bar = QHBoxLayout()
        for label, widget in (("x", self.x_axis), ("layout", self.layout_choice)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        bar.addWidget(QLabel("smoothing"))
        bar.addWidget(self.smoothing, 1)
        bar.addWidget(self.smoothing_label)
        bar.addWidget(self.log_y)
        self.capped = QLabel()
        self.capped.setStyleSheet("color: #d35400")
        self.capped.hide()
        bar.addWidget(self.capped)
        bar.addWidget(export)

        self.hint = QLabel("Select runs in the table to compare their metrics.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: gray")
        self.stack_box = QWidget()
        self.stack_layout = QVBoxLayout(self.stack_box)
        self.stack_layout.setContentsMargins(0, 0, 0, 0)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.stack_box)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.area = QStackedWidget()
        for w in (self.hint, self.scroll, self.tabs):
            self.area.addWidget(w)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(bar)
        right_layout.addWidget(self.area, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Metrics"))
        left_layout.addWidget(self.metrics, 1)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setSizes([160, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    # Inputs ----------------------------------------------------------------

    def set_runs(self, runs: list[RunInfo]) -> None:
        """Compare these runs (at most 100): fill the metric list, then load their series."""
        self.runs = runs[:MAX_RUNS]
        self.capped.setVisible(len(runs) > MAX_RUNS)
        self.capped.setText(
            f"drawing the first {MAX_RUNS} of {len(runs)} selected runs"
        )
        keys = sorted({k for r in self.runs for k in r.metrics})
        if not self._wanted and keys:
            self._wanted = [keys[0]]
        self.metrics.blockSignals(True)
        self.metrics.clear()
        for key in keys:
            item = QListWidgetItem(key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked
                if key in self._wanted
                else Qt.CheckState.Unchecked
            )
            self.metrics.addItem(item)
        self.metrics.blockSignals(False)
        self._load()

    def set_metrics(self, keys: list[str]) -> None:
        self._wanted = list(keys)
        self.metrics.blockSignals(True)
        for i in range(self.metrics.count()):
            item = self.metrics.item(i)
            item.setCheckState(
                Qt.CheckState.Checked
                if item.text() in keys
                else Qt.CheckState.Unchecked
            )
        self.metrics.blockSignals(False)
        self._load()

    def shown_metrics(self) -> list[str]:
        return [
            self.metrics.item(i).text()
            for i in range(self.metrics.count())
            if self.metrics.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _metrics_ticked(self) -> None:
        self._wanted = self.shown_metrics()
        self._load()

    def _smoothing_moved(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self.redraw()

    def _load(self) -> None:
        keys = self.shown_metrics()
        runs = list(self.runs)
        if not runs or not keys:
            self.background.invalidate("series")
            self.series = {}
            self._rebuild_plots()
            return
        ids = [r.id for r in runs]
        self.background.submit(
            "series", lambda: self.store.series(ids, keys), self._loaded
        )

    def _loaded(self, series: dict[str, dict[str, Series]]) -> None:
        self.series = series
        self._rebuild_plots()
        self.series_loaded.emit()

    # Drawing ---------------------------------------------------------------

    def _rebuild_plots(self) -> None:
        keys = [
            k for k in self.shown_metrics() if any(k in s for s in self.series.values())
        ]
        tabbed = self.layout_choice.currentText() == "tabbed"
        if (
            keys
            and keys == list(self.plots)
            and tabbed == (self.area.currentWidget() is self.tabs)
        ):
            self.redraw()  # same plots (a live update): keep the user's zoom and pan
            return
        for plot in self.plots.values():
            plot.setParent(None)
            plot.deleteLater()
        self.plots = {}
        self.tabs.clear()
        for i, key in enumerate(keys):
            plot = MetricPlot(key, legend=(i == 0 or tabbed))
            self.plots[key] = plot
            if tabbed:
                self.tabs.addTab(plot, key)
            else:
                plot.setMinimumHeight(STACK_MIN_HEIGHT)
                self.stack_layout.addWidget(plot)
        if self.plots and len(self.plots) > 1 and not tabbed:
            first = next(iter(self.plots.values()))
            for plot in list(self.plots.values())[1:]:
                plot.setXLink(first)  # stacked plots pan and zoom together along x
        self.area.setCurrentWidget(
            self.hint if not self.plots else self.tabs if tabbed else self.scroll
        )
        self.redraw()

    def redraw(self) -> None:
        colours = assign_colours([r.id for r in self.runs])
        for key, plot in self.plots.items():
            plot.show_runs(
                self.runs,
                {rid: per[key] for rid, per in self.series.items() if key in per},
                colours,
                x_mode=self.x_axis.currentText(),
                smoothing=self.smoothing.value() / 100,
                log_y=self.log_y.isChecked(),
            )

    def curves(self, key: str | None = None) -> list[pg.PlotDataItem]:
        if key is None:
            key = next(iter(self.plots), None)
        plot = self.plots.get(key) if key else None
        return plot.curves() if plot else []

    # Export ----------------------------------------------------------------

    def _export_dialog(self, kind: str) -> None:
        filters = {
            "png": "PNG image (*.png)",
            "svg": "SVG drawing (*.svg)",
            "csv": "CSV (*.csv)",
        }
        path, _ = QFileDialog.getSaveFileName(
            self, "Export", f"compare.{kind}", filters[kind]
        )
        if path:
            self.export(path)

    def export(self, path: str | Path) -> list[Path]:
        """Write the plots (one file per metric past the first) or the data, by extension."""
        path = Path(path)
        kind = path.suffix.lower().lstrip(".")
        if kind == "csv":
            write_csv(
                path, self.runs, self.series, list(self.plots) or self.shown_metrics()
            )
            return [path]
        written = []
        for i, (key, plot) in enumerate(self.plots.items()):
            target = (
                path
                if i == 0
                else path.with_name(f"{path.stem}-{_safe(key)}{path.suffix}")
            )
            if kind == "svg":
                write_svg(plot, target)
            else:
                exporter = pg_exporters.ImageExporter(plot.getPlotItem())
                exporter.parameters()["width"] = max(800, int(plot.width()))
                exporter.export(str(target))
            written.append(target)
        return written

    # Settings --------------------------------------------------------------

    def state(self) -> dict:
        return {
            "metrics": self._wanted,
            "x": self.x_axis.currentText(),
            "layout": self.layout_choice.currentText(),
            "smoothing": self.smoothing.value(),
            "log_y": self.log_y.isChecked(),
            "splitter": bytes(self.splitter.saveState().data()).hex(),
        }

    def restore(self, state: dict) -> None:
        self._wanted = [str(k) for k in state.get("metrics") or []]
        self.x_axis.setCurrentText(str(state.get("x", "step")))
        self.layout_choice.setCurrentText(str(state.get("layout", "stacked")))
        self.smoothing.setValue(int(state.get("smoothing", 0)))
        self.log_y.setChecked(bool(state.get("log_y", False)))
        if state.get("splitter"):
            self.splitter.restoreState(bytes.fromhex(str(state["splitter"])))


def write_svg(plot: MetricPlot, path: Path) -> None:
    """The plot as vector SVG through Qt's own generator. (pyqtgraph 0.14's SVGExporter
    fails on the path syntax that Qt 6.11 writes: pyqtgraph issue #3485.)"""
    size = plot.size()
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(plot.key)
    painter = QPainter(generator)
    try:
        plot.render(painter)
    finally:
        painter.end()


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
