"""Params vs metrics across the selected runs: a scatter of any field against another, and
parallel coordinates of params and a final metric, brushed to filter runs.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from labdeck.db.entities import RunInfo
from labdeck.ui.curves import assign_colours

if TYPE_CHECKING:  # NumPy loads in the functions that use it: not on the way to the first page
    import numpy as np
    import pyqtgraph as pg


def _pg() -> Any:
    """pyqtgraph, imported when a view first draws (``ui.plotting``)."""
    from labdeck.ui.plotting import pg

    return pg


class _LazyPlot:
    """A view's plot widget, made where the view first draws, not when the window opens."""

    _plot: Any = None

    def _make_plot(self) -> Any:
        raise NotImplementedError

    @property
    def plot(self) -> pg.PlotWidget:
        if self._plot is None:
            self._plot = self._make_plot()
            self.layout().addWidget(self._plot, 1)  # type: ignore[attr-defined]
        return self._plot


def field_value(run: RunInfo, field: str) -> str | float | None:
    """``params.X`` (a number when it reads as one), ``metrics.X`` (last value) or ``tags.X``."""
    kind, _, name = field.partition(".")
    if kind == "metrics":
        m = run.metrics.get(name)
        return None if m is None or math.isnan(m.last) else m.last
    raw = (run.params if kind == "params" else run.tags).get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return raw


def axis_values(runs: list[RunInfo], field: str) -> tuple[np.ndarray, list[str] | None]:
    """Numbers for ``field`` per run (NaN when missing). Text values become category
    positions 0..k-1, returned with their labels."""
    import numpy as np
    raw = [field_value(r, field) for r in runs]
    if all(v is None or isinstance(v, float) for v in raw):
        return np.array([np.nan if v is None else v for v in raw], dtype=float), None
    labels = sorted({str(v) for v in raw if v is not None})
    index = {label: i for i, label in enumerate(labels)}
    return np.array(
        [np.nan if v is None else index[str(v)] for v in raw], dtype=float
    ), labels


def spans_decades(values: np.ndarray, labels: list[str] | None) -> bool:
    """Whether an axis shows ``values`` on a log scale: positive numbers two or more decades
    apart (a learning rate swept from 1e-5 to 1e-1 bunches up at zero on a linear axis)."""
    import numpy as np
    known = values[np.isfinite(values)]
    return labels is None and known.size > 1 and bool((known > 0).all()) and known.max() >= 100 * known.min()


def fields_of(runs: list[RunInfo]) -> list[str]:
    params = sorted({f"params.{k}" for r in runs for k in r.params})
    metrics = sorted({f"metrics.{k}" for r in runs for k in r.metrics})
    return params + metrics


def default_axes(runs: list[RunInfo], fields: list[str]) -> tuple[str, str]:
    """The fields a scatter opens on: x, the first param whose value differs between the
    runs (a sweep's knob, not a setting they share); y, the first metric that differs."""
    def first(prefix: str) -> str | None:
        named = [f for f in fields if f.startswith(prefix)]
        varying = [f for f in named if len({v for r in runs if (v := field_value(r, f)) is not None and v == v}) > 1]
        return (varying or named or [None])[0]

    return first("params.") or fields[0], first("metrics.") or fields[-1]


class ScatterView(_LazyPlot, QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunInfo] = []
        self.x_field = QComboBox()
        self.y_field = QComboBox()
        for combo in (self.x_field, self.y_field):
            combo.currentTextChanged.connect(lambda _t: self.redraw())
        bar = QHBoxLayout()
        bar.addWidget(QLabel("x"))
        bar.addWidget(self.x_field, 1)
        bar.addWidget(QLabel("y"))
        bar.addWidget(self.y_field, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)

    def _make_plot(self) -> Any:
        pg = _pg()
        from labdeck.ui.grid_axis import grid_axes, put_beneath_view  # with pyqtgraph, on first use

        plot = pg.PlotWidget(background=None, axisItems=grid_axes())
        put_beneath_view(plot.getPlotItem())  # the grid never dims a point
        plot.showGrid(x=True, y=True, alpha=0.2)
        self._points = pg.ScatterPlotItem(size=11, hoverable=True, tip=self._tip)
        plot.addItem(self._points)
        return plot

    @property
    def points(self) -> pg.ScatterPlotItem:
        self.plot  # noqa: B018 - made with its plot
        return self._points

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.runs = runs
        fields = fields_of(runs)
        defaults = default_axes(runs, fields) if fields else ("", "")
        for combo, default in zip((self.x_field, self.y_field), defaults):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(fields)
            combo.setCurrentText(current if current in fields else default)
            combo.blockSignals(False)
        self.redraw()

    def redraw(self) -> None:
        import numpy as np
        xf, yf = self.x_field.currentText(), self.y_field.currentText()
        if not self.runs or not xf or not yf:
            self.points.setData([])
            return
        x, x_labels = axis_values(self.runs, xf)
        y, y_labels = axis_values(self.runs, yf)
        logs = {"bottom": spans_decades(x, x_labels), "left": spans_decades(y, y_labels)}
        if logs["bottom"]:
            x = np.log10(x)
        if logs["left"]:
            y = np.log10(y)
        colours = assign_colours([r.id for r in self.runs])
        ok = np.isfinite(x) & np.isfinite(y)
        spots = [
            {"pos": (x[i], y[i]), "data": run, "brush": _pg().mkBrush(colours[run.id])}
            for i, run in enumerate(self.runs)
            if ok[i]
        ]
        self.points.setData(spots)
        for side, field, labels in (("bottom", xf, x_labels), ("left", yf, y_labels)):
            self.plot.setLabel(side, f"{field} (log scale)" if logs[side] else field)
            axis = self.plot.getAxis(side)
            axis.setLogMode(logs[side])  # ticks at powers of ten, labelled with the values
            axis.setTicks([list(enumerate(labels))] if labels else None)
        self.plot.autoRange()

    def point_count(self) -> int:
        return len(self.points.data)

    def _tip(self, x: float, y: float, data: RunInfo) -> str:
        values = (field_value(data, self.x_field.currentText()), field_value(data, self.y_field.currentText()))
        shown = [f"{v:.6g}" if isinstance(v, float) else str(v) for v in values]  # not their logarithms
        return f"{data.name}\nx = {shown[0]}\ny = {shown[1]}"


class ParallelView(_LazyPlot, QWidget):
    """Parallel coordinates: one vertical axis per varying param plus a final metric. Drag
    the box on an axis to brush: runs outside any box turn grey, and the matching runs can
    be selected in the table."""

    select_runs = Signal(list)  # run ids

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunInfo] = []
        self.fields: list[str] = []
        self._norm: np.ndarray | None = None  # runs x axes, scaled to 0..1; None until drawn
        self._lines: list[pg.PlotDataItem] = []
        self.brushes: list[pg.ROI] = []
        self.metric = QComboBox()
        self.metric.currentTextChanged.connect(lambda _t: self.redraw())
        self.count = QLabel()
        select = QPushButton("Select matching runs")
        select.clicked.connect(lambda: self.select_runs.emit(self.brushed_ids()))
        reset = QPushButton("Clear brushes")
        reset.clicked.connect(self.redraw)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("final metric"))
        bar.addWidget(self.metric, 1)
        bar.addWidget(self.count)
        bar.addWidget(reset)
        bar.addWidget(select)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)

    def _make_plot(self) -> Any:
        plot = _pg().PlotWidget(background=None)
        plot.hideAxis("left")
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        return plot

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.runs = runs
        metrics = sorted({k for r in runs for k in r.metrics})
        current = self.metric.currentText()
        self.metric.blockSignals(True)
        self.metric.clear()
        self.metric.addItems(metrics)
        if current in metrics:
            self.metric.setCurrentText(current)
        self.metric.blockSignals(False)
        self.redraw()

    def redraw(self) -> None:
        import numpy as np
        pg = _pg()
        self.plot.clear()
        self._lines, self.brushes = [], []
        params = sorted({k for r in self.runs for k in r.params})
        # Only params that vary across the runs tell anything apart.
        varying = [
            f"params.{k}"
            for k in params
            if len({r.params.get(k) for r in self.runs}) > 1
        ]
        metric = self.metric.currentText()
        self.fields = varying + ([f"metrics.{metric}"] if metric else [])
        if len(self.runs) < 2 or not self.fields:
            self._norm = np.empty((len(self.runs), 0))
            self.count.setText("select two or more runs")
            return
        columns = []
        ticks = []
        for i, field in enumerate(self.fields):
            values, labels = axis_values(self.runs, field)
            lo, hi = (
                (np.nanmin(values), np.nanmax(values))
                if np.isfinite(values).any()
                else (0.0, 1.0)
            )
            span = hi - lo if hi > lo else 1.0
            columns.append((values - lo) / span)
            ticks.append((i, field.split(".", 1)[1]))
            text = pg.TextItem(
                f"{_short(hi, labels)}",
                anchor=(0.5, 1.0),
                color=pg.getConfigOption("foreground"),
            )
            text.setPos(i, 1.02)
            self.plot.addItem(text)
            low = pg.TextItem(
                f"{_short(lo, labels)}",
                anchor=(0.5, 0.0),
                color=pg.getConfigOption("foreground"),
            )
            low.setPos(i, -0.02)
            self.plot.addItem(low)
            self.plot.addItem(
                pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen((128, 128, 128, 160)))
            )
        self._norm = np.column_stack(columns)
        xs = np.arange(len(self.fields), dtype=float)
        colours = assign_colours([r.id for r in self.runs])
        for row, run in enumerate(self.runs):
            line = self.plot.plot(
                xs,
                self._norm[row],
                pen=pg.mkPen(colours[run.id], width=1.5),
                connect="finite",
            )
            self._lines.append(line)
        for i in range(len(self.fields)):
            roi = pg.ROI(
                (i - 0.06, -0.03),
                (0.12, 1.06),
                pen=pg.mkPen("#888", width=1),
                movable=True,
            )
            roi.addScaleHandle((0.5, 1), (0.5, 0))
            roi.addScaleHandle((0.5, 0), (0.5, 1))
            roi.sigRegionChanged.connect(lambda _r: self._apply_brushes())
            self.plot.addItem(roi)
            self.brushes.append(roi)
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.3, len(self.fields) - 0.7, padding=0)
        self.plot.setYRange(-0.12, 1.12, padding=0)
        self._apply_brushes()

    def set_brush(self, axis: int, low: float, high: float) -> None:
        """Brush axis ``axis`` to the normalised range [low, high] (0 = axis min, 1 = max)."""
        roi = self.brushes[axis]
        roi.setPos((axis - 0.06, low))
        roi.setSize((0.12, high - low))

    def brushed_ids(self) -> list[str]:
        import numpy as np
        if self._norm is None or self._norm.size == 0:
            return [r.id for r in self.runs]
        keep = np.ones(len(self.runs), dtype=bool)
        for i, roi in enumerate(self.brushes):
            low = roi.pos().y()
            high = low + roi.size().y()
            col = self._norm[:, i]
            keep &= ~np.isfinite(col) | ((col >= low) & (col <= high))
        return [r.id for r, k in zip(self.runs, keep) if k]

    def _apply_brushes(self) -> None:
        pg = _pg()
        kept = set(self.brushed_ids())
        colours = assign_colours([r.id for r in self.runs])
        for run, line in zip(self.runs, self._lines):
            if run.id in kept:
                line.setPen(pg.mkPen(colours[run.id], width=1.8))
                line.setZValue(1)
            else:
                line.setPen(pg.mkPen((160, 160, 160, 70), width=1))
                line.setZValue(0)
        self.count.setText(f"{len(kept)} of {len(self.runs)} runs match")


def _short(value: float, labels: list[str] | None) -> str:
    if labels:
        return labels[int(value)] if 0 <= int(value) < len(labels) else ""
    return f"{value:.4g}"
