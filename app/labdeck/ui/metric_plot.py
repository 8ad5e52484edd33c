"""One metric's plot: a line per run or per group (smoothed over a faint raw line, a group's
band behind its centre), log y, a legend beside the plot area (never over the curves), a
crosshair that reads every line's value at the hovered x, and y scaling that can ignore
outliers.

Every point stays in memory; drawing goes through pyqtgraph's peak-preserving downsampling
and clip-to-view, so 100 curves of 100,000 points pan fluidly.
"""

from __future__ import annotations


import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QSizePolicy

from labdeck.ui.curves import robust_range
from labdeck.ui.grid_axis import grid_axes, put_beneath_view
from labdeck.ui.plot_lines import Line
from labdeck.ui.plotting import pg

WIDE_PEN_POINTS = 300_000
DOWNSAMPLE_FACTOR = 1.0
LEGEND_CELL = (2, 3)  # PlotItem's grid: row 2 holds the view box; column 3 is past the right axis


class MetricPlot(pg.PlotWidget):
    def __init__(self, key: str, *, legend: bool = True, parent=None) -> None:
        super().__init__(parent, background=None, axisItems=grid_axes())
        put_beneath_view(self.getPlotItem())
        self.key = key
        self.setObjectName(f"plot:{key}")
        self.setTitle(key)
        self.showGrid(x=True, y=True, alpha=0.2)
        item = self.getPlotItem()
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        # The legend lives in the plot item's own grid, right of the axes: it takes its
        # width from the plot area instead of covering curves.
        self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-6)
        self._legend_on = False
        self.set_legend_visible(legend)
        self._lines: list[tuple[Line, pg.PlotDataItem]] = []
        self._raw: list[pg.PlotDataItem] = []
        self._bands: list[pg.FillBetweenItem] = []
        self.robust_y = False
        self.readout = pg.TextItem(anchor=(0, 0))
        self.readout.setZValue(100)
        self.marker = pg.ScatterPlotItem(size=8, pen=pg.mkPen("k"), brush=None)
        self.marker.setZValue(99)
        self.crosshair = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self.crosshair.setZValue(98)
        self._proxy = pg.SignalProxy(
            self.scene().sigMouseMoved, rateLimit=30, slot=self._hover
        )

    # Legend ------------------------------------------------------------------

    def set_legend_visible(self, on: bool) -> None:
        layout = self.getPlotItem().layout
        if on and not self._legend_on:
            layout.addItem(self.legend, *LEGEND_CELL)
            # As tall as its entries, at the top of the cell: stretched to the plot's height,
            # its rows spread out and each swatch slid away below its label.
            self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
            layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        elif not on and self._legend_on:
            layout.removeItem(self.legend)
            self.legend.setParentItem(None)
            if self.legend.scene() is not None:
                self.legend.scene().removeItem(self.legend)
        self._legend_on = on
        self.legend.setVisible(on)
        layout.activate()

    def legend_visible(self) -> bool:
        return self._legend_on

    def legend_names(self) -> list[str]:
        return [label.text for _sample, label in self.legend.items]

    # Drawing -----------------------------------------------------------------

    def show_lines(
        self, lines: list[Line], *, x_label: str, log_y: bool, robust_y: bool = False
    ) -> None:
        self.clear()
        self.legend.clear()
        self._lines, self._raw, self._bands = [], [], []
        self.setLabel("bottom", x_label)
        self.setLogMode(x=False, y=log_y)
        # A 1-px (cosmetic) pen draws about 3x faster than a wide one in Qt's raster engine:
        # wide pens only while the points are few enough to stay fluid anyway.
        total = sum(len(line.x) for line in lines)
        width = 1.6 if total <= WIDE_PEN_POINTS else 1.0
        for line in lines:
            self._draw(line, width, log_y)
        for item in self.listDataItems():
            # Peak mode keeps each pixel column's min and max: ~2 samples per pixel draw
            # the same envelope as pyqtgraph's default of ~10, with a fifth of the segments.
            item.opts["autoDownsampleFactor"] = DOWNSAMPLE_FACTOR
        for item in (self.readout, self.marker, self.crosshair):
            self.addItem(item, ignoreBounds=True)
        self.readout.setText("")
        self.marker.setData([], [])
        self.crosshair.hide()
        self.getPlotItem().layout.activate()  # place the resized legend now, not later
        self.set_robust_y(robust_y)

    def _draw(self, line: Line, width: float, log_y: bool) -> None:
        y = np.where(line.y > 0, line.y, np.nan) if log_y else line.y
        if line.band is not None:
            low, high = line.band
            if log_y:  # log of <= 0 is undefined: leave a gap
                low, high = (np.where(b > 0, b, np.nan) for b in (low, high))
            pens = [pg.mkPen(None)] * 2
            edges = [
                self.plot(line.x, b, pen=p, connect="finite", skipFiniteCheck=True)
                for b, p in zip((low, high), pens)
            ]
            fill = pg.mkColor(line.colour)
            fill.setAlpha(55)
            band = pg.FillBetweenItem(*edges, brush=pg.mkBrush(fill))
            self.addItem(band)
            self._bands.append(band)
        if line.raw is not None:
            faint = pg.mkColor(line.colour)
            faint.setAlpha(60)
            raw_y = np.where(line.raw > 0, line.raw, np.nan) if log_y else line.raw
            self._raw.append(
                self.plot(
                    line.x,
                    raw_y,
                    pen=pg.mkPen(faint, width=1),
                    connect="finite",
                    skipFiniteCheck=True,
                )
            )
        curve = self.plot(
            line.x,
            y,
            pen=pg.mkPen(line.colour, width=width),
            connect="finite",
            skipFiniteCheck=True,
        )
        self.legend.addItem(curve, line.name)  # kept while hidden: showing it is instant
        self._lines.append((line, curve))

    def set_robust_y(self, on: bool) -> None:
        """Scale y to the 1st–99th percentile of what is drawn (outliers off-scale), or
        back to pyqtgraph's auto range over every point."""
        self.robust_y = on
        vb = self.getPlotItem().vb
        if not on:
            vb.enableAutoRange(axis=pg.ViewBox.YAxis, enable=True)
            return
        span = robust_range([self._drawn_y(c) for _l, c in self._lines])
        if span is not None:
            vb.setYRange(*span, padding=0)

    def _drawn_y(self, curve: pg.PlotDataItem) -> np.ndarray:
        y = curve.getOriginalDataset()[1]
        if y is None:
            return np.empty(0)
        if self.getPlotItem().ctrl.logYCheck.isChecked():
            with np.errstate(all="ignore"):
                return np.log10(np.where(y > 0, y, np.nan))
        return y

    def x_span(self) -> tuple[float, float] | None:
        """The x extent of every line's data (clip-to-view trims what the curves hold)."""
        spans = [
            (float(np.nanmin(line.x)), float(np.nanmax(line.x)))
            for line in self.lines()
            if np.isfinite(line.x).any()
        ]
        if not spans:
            return None
        return min(s[0] for s in spans), max(s[1] for s in spans)

    def curves(self) -> list[pg.PlotDataItem]:
        """The main (smoothed, when smoothing is on) curve of each line, in order."""
        return [c for _l, c in self._lines]

    def lines(self) -> list[Line]:
        return [line for line, _c in self._lines]

    def raw_curves(self) -> list[pg.PlotDataItem]:
        return list(self._raw)

    def bands(self) -> list[pg.FillBetweenItem]:
        return list(self._bands)

    # Hover: crosshair and nearest point -------------------------------------

    def _hover(self, event: tuple) -> None:
        pos = event[0]
        if not self.sceneBoundingRect().contains(pos) or not self._lines:
            return
        view = self.getPlotItem().vb.mapSceneToView(pos)
        self.show_crosshair(view.x())

    def values_at(self, x: float) -> list[tuple[str, str, float]]:
        """Every line's value at ``x`` (its nearest point): (name, colour, value), read
        from the original data (never log-transformed)."""
        out = []
        for line, curve in self._lines:
            xs, ys = curve.getOriginalDataset()
            if xs is None or len(xs) == 0:
                continue
            j = _nearest(xs, x)
            if j is None or not np.isfinite(ys[j]):
                continue
            out.append((line.name, line.colour, float(ys[j])))
        return out

    def show_crosshair(self, x: float) -> str:
        """A vertical line at ``x`` and a read-out of every line's value there."""
        values = self.values_at(x)
        if not values:
            return ""
        self.crosshair.setPos(x)
        self.crosshair.show()
        rows = [f"x = {x:.6g}"] + [
            f'<span style="color:{colour}">■</span> {name}: {value:.5g}'
            for name, colour, value in values
        ]
        self.readout.setHtml(
            '<div style="background:rgba(255,255,255,200);color:#222;font-size:8pt">'
            + "<br>".join(rows)
            + "</div>"
        )
        _xr, (_y0, y1) = self.getPlotItem().vb.viewRange()
        self.readout.setPos(x, y1)
        self.marker.setData([], [])
        return "\n".join([rows[0]] + [f"{n}: {v:.5g}" for n, _c, v in values])

    def show_nearest(self, view: QPointF) -> str:
        """Mark the data point nearest to ``view`` (in view coordinates) and label it."""
        vb = self.getPlotItem().vb
        (x0, x1), (y0, y1) = vb.viewRange()
        sx, sy = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
        best: tuple[float, Line, float, float] | None = None
        for line, curve in self._lines:
            x, y = curve.getData()  # what is drawn (log10 applied in log mode)
            if x is None or len(x) == 0:
                continue
            i = _nearest(x, view.x())
            for j in {max(i - 1, 0), i} if i is not None else ():
                if not np.isfinite(y[j]):
                    continue
                d = ((x[j] - view.x()) / sx) ** 2 + ((y[j] - view.y()) / sy) ** 2
                if best is None or d < best[0]:
                    best = (d, line, float(x[j]), float(y[j]))
        if best is None:
            return ""
        _d, line, x, y = best
        shown = 10**y if self.getPlotItem().ctrl.logYCheck.isChecked() else y
        text = f"{line.name}\nx = {x:.6g}\n{self.key} = {shown:.6g}"
        self.readout.setText(text)
        self.readout.setPos(x, y)
        self.marker.setData([x], [y])
        return text


def _nearest(xs: np.ndarray, x: float) -> int | None:
    """Index of the point of sorted-ish ``xs`` nearest to ``x`` (NaN x skipped)."""
    if len(xs) == 0:
        return None
    i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
    candidates = [j for j in (i - 1, i) if 0 <= j < len(xs) and np.isfinite(xs[j])]
    if not candidates:
        return None
    return min(candidates, key=lambda j: abs(xs[j] - x))
