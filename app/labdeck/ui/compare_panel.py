"""The compare area: the selected runs' metrics as stacked or tabbed plots. Each plot has
its own x and y range unless "link x" is on; x is the step, wall time, relative time or any
other logged metric; runs can be grouped by a param, tag or attribute (a group draws its
mean or median with a band); EMA smoothing, log y, y scaling that ignores outliers, a
legend beside each plot (or hidden), and export of the plots (PNG/SVG) and data (CSV).

Series are read on a worker thread; a newer selection supersedes a load still running.
"""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QAction, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
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
from labdeck.runs.fold import without_twins
from labdeck.ui.ops import ReadChannels
from labdeck.ui.curves import X_METRIC_PREFIX, X_MODES, write_csv
from labdeck.ui.grouping import BANDS, CENTRES, group_keys, group_runs
from labdeck.ui.plot_lines import group_lines, run_lines, x_label, x_metric
from labdeck.run_reads import RunReads

if TYPE_CHECKING:
    import pyqtgraph as pg

    from labdeck.ui.metric_plot import MetricPlot

MAX_RUNS = 100
STACK_MIN_HEIGHT = 170


def first_metric(keys: list[str]) -> str:
    """The chart a comparison opens on: a validation loss, else any loss, else the first
    key by name (``grad_norm`` sorts before ``val/loss``, but runs are compared on losses)."""
    def name(key: str) -> str:
        return key.rsplit("/", 1)[-1].lower()

    losses = [k for k in keys if "loss" in name(k)]
    held_out = [k for k in losses if any(w in k.lower() for w in ("val", "eval", "valid", "test"))]
    return (held_out or losses or keys)[0]


class ComparePanel(QWidget):
    series_loaded = Signal()

    def __init__(
        self, store: RunReads, background: ReadChannels, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.background = background
        self.runs: list[RunInfo] = []
        self.series: dict[str, dict[str, Series]] = {}  # run id -> metric -> points
        self.plots: dict[str, MetricPlot] = {}
        self._wanted: list[str] = []  # metric keys ticked (kept across selections)
        self._wanted_x = "step"  # kept while a selection lacks the x metric
        self._wanted_group = ""
        self._build()

    def _build(self) -> None:
        self.metrics = QListWidget()
        self.metrics.setObjectName("compareMetrics")
        self.metrics.itemChanged.connect(lambda _i: self._metrics_ticked())
        self.x_axis = QComboBox()
        self.x_axis.addItems(X_MODES)
        self.x_axis.currentTextChanged.connect(self._x_changed)
        self.layout_choice = QComboBox()
        self.layout_choice.addItems(["stacked", "tabbed"])
        self.layout_choice.currentTextChanged.connect(lambda _t: self._rebuild_plots())
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setToolTip("EMA smoothing (the raw curve stays faint behind)")
        self.smoothing.valueChanged.connect(self._smoothing_moved)
        self.smoothing_label = QLabel("0.00")
        # Display options sit in one "View" menu: a row of check boxes made the window
        # wider than a laptop screen allows.
        view = QToolButton()
        view.setText("View")
        view.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        view_menu = QMenu(view)
        view.setMenu(view_menu)

        def option(text: str, tip: str, slot, checked: bool = False) -> QAction:
            action = view_menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(checked)
            action.setToolTip(tip)
            action.toggled.connect(slot)
            return action

        self.link_x = option(
            "Link x axes", "Pan and zoom every plot's x axis together",
            lambda _on: self._link_x_axes(),
        )
        self.log_y = option("Log y", "Logarithmic y axis", lambda _on: self.redraw())
        self.robust_y = option(
            "Ignore outliers", "Scale y to the 1st–99th percentile of the points",
            self._robust_toggled,
        )
        self.show_legend = option(
            "Legend", "Show each plot's legend beside it", self._legend_toggled, True
        )
        self.group_by = QComboBox()
        self.group_by.setObjectName("groupBy")
        self.group_by.addItem("(no grouping)", "")
        self.group_by.currentIndexChanged.connect(self._group_changed)
        for combo in (self.x_axis, self.group_by):
            # Long metric or param names must not widen the window: elide in the combo.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
        self.centre = QComboBox()
        self.centre.addItems(CENTRES)
        self.centre.currentTextChanged.connect(lambda _t: self.redraw())
        self.band = QComboBox()
        self.band.addItems(BANDS)
        self.band.currentTextChanged.connect(lambda _t: self.redraw())
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
        bar.addWidget(view)
        bar.addWidget(export)
        groups = QHBoxLayout()
        for label, widget in (
            ("group by", self.group_by),
            ("centre", self.centre),
            ("band", self.band),
        ):
            groups.addWidget(QLabel(label))
            groups.addWidget(widget)
        self.capped = QLabel()
        self.capped.setStyleSheet("color: #d35400")
        self.capped.hide()
        groups.addWidget(self.capped)
        groups.addStretch(1)

        self.hint = QLabel("Select runs in the table to compare their metrics.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)  # a long hint must not widen the window
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
        right_layout.addLayout(groups)
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
        """Compare these runs (at most 100): fill the metric list, then load their series.
        Another format's source of a listed run's training is folded into it (its richest
        points are that run's: ``RunReads.series``)."""
        runs = without_twins(runs)
        self.runs = runs[:MAX_RUNS]
        self.capped.setVisible(len(runs) > MAX_RUNS)
        self.capped.setText(
            f"drawing the first {MAX_RUNS} of {len(runs)} selected runs"
        )
        keys = sorted({k for r in self.runs for k in r.metrics})
        if keys and not set(self._wanted) & set(keys):
            # Nothing asked for is logged by these runs: plot the metric runs are usually
            # compared on (what was asked for stays wanted, for a later selection that logs it).
            self._wanted = [*self._wanted, first_metric(keys)]
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
        self._fill_choices(keys)
        self._load()

    def _fill_choices(self, keys: list[str]) -> None:
        """The x axis (steps, times, any logged metric) and group-by keys of these runs."""
        for combo, items in (
            (self.x_axis, list(X_MODES) + [f"{X_METRIC_PREFIX}{k}" for k in keys]),
            (self.group_by, group_keys(self.runs)),
        ):
            current = combo.currentData() if combo is self.group_by else combo.currentText()
            combo.blockSignals(True)
            if combo is self.group_by:
                combo.clear()
                combo.addItem("(no grouping)", "")
                for key in items:
                    combo.addItem(key, key)
                index = combo.findData(current or self._wanted_group)
            else:
                combo.clear()
                combo.addItems(items)
                index = combo.findText(current or self._wanted_x)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    def set_group_by(self, key: str) -> None:
        """Group the plots by ``key`` ("" for none), e.g. "params.lr" or "experiment"."""
        self._wanted_group = key
        index = self.group_by.findData(key)
        if index < 0 and key:
            self.group_by.addItem(key, key)
            index = self.group_by.count() - 1
        self.group_by.setCurrentIndex(max(index, 0))

    def _group_changed(self, _index: int) -> None:
        self._wanted_group = self.grouped_by()
        self.redraw()

    def grouped_by(self) -> str:
        return self.group_by.currentData() or ""

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

    def _x_changed(self, mode: str) -> None:
        self._wanted_x = mode
        by = x_metric(mode)
        if by and any(by not in per for per in self.series.values()):
            self._load()  # its points are not loaded yet
        else:
            self.redraw()

    def _robust_toggled(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.set_robust_y(on)

    def _legend_toggled(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.set_legend_visible(on)

    def _link_x_axes(self) -> None:
        """Linked: every plot follows the first one's x range. Unlinked (the default):
        each plot ranges over its own data (a per-epoch metric is not squeezed into the
        x range of a per-step one)."""
        plots = list(self.plots.values())
        link = self.link_x.isChecked() and len(plots) > 1
        for plot in plots[1:]:
            plot.setXLink(plots[0] if link else None)
        if link:  # start from the span of every plot's data (not the clipped views)
            spans = [s for s in (p.x_span() for p in plots) if s is not None]
            if spans:
                plots[0].setXRange(min(s[0] for s in spans), max(s[1] for s in spans))
        else:
            for plot in plots:
                plot.getPlotItem().vb.enableAutoRange(axis="x", enable=True)

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
        by = x_metric(self.x_axis.currentText())
        if by and by not in keys:
            keys = [*keys, by]  # the x axis metric's points, to place the others by
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
        for key in keys:
            from labdeck.ui.metric_plot import MetricPlot  # pyqtgraph: on the first plot

            plot = MetricPlot(key, legend=self.show_legend.isChecked())
            self.plots[key] = plot
            if tabbed:
                self.tabs.addTab(plot, key)
            else:
                plot.setMinimumHeight(STACK_MIN_HEIGHT)
                self.stack_layout.addWidget(plot)
        self._link_x_axes()
        self.hint.setText(self._hint_text())
        self.area.setCurrentWidget(
            self.hint if not self.plots else self.tabs if tabbed else self.scroll
        )
        self.redraw()

    def _hint_text(self) -> str:
        """What to do when nothing is plotted: select runs, or tick a metric they log."""
        if not self.runs:
            return "Select runs in the table to compare their metrics."
        missing = [k for k in self._wanted if not any(k in r.metrics for r in self.runs)]
        if missing:
            return f"The selected runs log no {', '.join(missing)}: tick a metric on the left."
        ticked = self.shown_metrics()
        if ticked:  # logged, by the index's summaries, yet no points came back
            return (f"No points of {', '.join(ticked)} could be read for the selected runs: their files "
                    "may be gone or not readable (the Warnings button says which).")
        return "Tick a metric on the left to plot it for the selected runs."

    def redraw(self) -> None:
        x_mode = self.x_axis.currentText()
        smoothing = self.smoothing.value() / 100
        group_by = self.grouped_by()
        groups = group_runs(self.runs, group_by) if group_by else None
        for key, plot in self.plots.items():
            if groups is not None:
                lines = group_lines(
                    groups,
                    group_by,
                    self.series,
                    key,
                    x_mode=x_mode,
                    smoothing=smoothing,
                    centre=self.centre.currentText(),
                    band=self.band.currentText(),
                )
            else:
                lines = run_lines(
                    self.runs, self.series, key, x_mode=x_mode, smoothing=smoothing
                )
            plot.show_lines(
                lines,
                x_label=x_label(x_mode),
                log_y=self.log_y.isChecked(),
                robust_y=self.robust_y.isChecked(),
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
                import pyqtgraph.exporters as pg_exporters

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
            "robust_y": self.robust_y.isChecked(),
            "link_x": self.link_x.isChecked(),
            "legend": self.show_legend.isChecked(),
            "group_by": self.grouped_by(),
            "centre": self.centre.currentText(),
            "band": self.band.currentText(),
            "splitter": bytes(self.splitter.saveState().data()).hex(),
        }

    def restore(self, state: dict) -> None:
        self._wanted = [str(k) for k in state.get("metrics") or []]
        self._wanted_x = str(state.get("x", "step"))
        if self.x_axis.findText(self._wanted_x) < 0:
            self.x_axis.addItem(self._wanted_x)
        self.x_axis.setCurrentText(self._wanted_x)
        self.layout_choice.setCurrentText(str(state.get("layout", "stacked")))
        self.smoothing.setValue(int(state.get("smoothing", 0)))
        self.log_y.setChecked(bool(state.get("log_y", False)))
        self.robust_y.setChecked(bool(state.get("robust_y", False)))
        self.link_x.setChecked(bool(state.get("link_x", False)))
        self.show_legend.setChecked(bool(state.get("legend", True)))
        self.centre.setCurrentText(str(state.get("centre", CENTRES[0])))
        self.band.setCurrentText(str(state.get("band", BANDS[0])))
        self.set_group_by(str(state.get("group_by", "")))
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
