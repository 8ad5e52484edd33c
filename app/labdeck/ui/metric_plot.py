"""One metric's plot: a curve per run (smoothed over a faint raw curve), log y, and a
read-out of the nearest point under the mouse.

Every point stays in memory; drawing goes through pyqtgraph's peak-preserving downsampling
and clip-to-view, so 100 curves of 100,000 points pan fluidly.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from labdeck.db.entities import RunInfo, Series
from labdeck.ui.curves import ema, finite, x_values

WIDE_PEN_POINTS = 300_000
DOWNSAMPLE_FACTOR = 1.0


class MetricPlot(pg.PlotWidget):
    def __init__(self, key: str, *, legend: bool, parent=None) -> None:
        super().__init__(parent, background=None)
        self.key = key
        self.setObjectName(f"plot:{key}")
        self.setTitle(key)
        self.showGrid(x=True, y=True, alpha=0.2)
        item = self.getPlotItem()
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        self.legend = (
            self.addLegend(offset=(-10, 10), labelTextSize="8pt") if legend else None
        )
        self._smoothed: list[tuple[RunInfo, pg.PlotDataItem]] = []
        self._raw: list[pg.PlotDataItem] = []
        self.readout = pg.TextItem(anchor=(0, 1))
        self.readout.setZValue(100)
        self.marker = pg.ScatterPlotItem(size=9, pen=pg.mkPen("k"), brush=None)
        self.marker.setZValue(99)
        self._proxy = pg.SignalProxy(
            self.scene().sigMouseMoved, rateLimit=30, slot=self._hover
        )

    def show_runs(
        self,
        runs: list[RunInfo],
        series: dict[str, Series],
        colours: dict[str, str],
        *,
        x_mode: str,
        smoothing: float,
        log_y: bool,
    ) -> None:
        self.clear()
        if self.legend is not None:
            self.legend.clear()
        self._smoothed = []
        self._raw = []
        self.setLabel("bottom", x_mode if x_mode == "step" else f"{x_mode} (s)")
        self.setLogMode(x=False, y=log_y)
        # A 1-px (cosmetic) pen draws about 3x faster than a wide one in Qt's raster engine:
        # wide pens only while the points are few enough to stay fluid anyway.
        total = sum(len(s) for s in series.values())
        width = 1.6 if total <= WIDE_PEN_POINTS else 1.0
        for run in runs:
            s = series.get(run.id)
            if s is None or len(s) == 0:
                continue
            x = x_values(s, x_mode)
            y = finite(s.values)
            if log_y:
                y = np.where(y > 0, y, np.nan)  # log of <= 0 is undefined: leave a gap
            colour = colours.get(run.id, "#1f77b4")
            if smoothing > 0:
                faint = pg.mkColor(colour)
                faint.setAlpha(60)
                raw = self.plot(
                    x,
                    y,
                    pen=pg.mkPen(faint, width=1),
                    connect="finite",
                    skipFiniteCheck=True,
                )
                self._raw.append(raw)
                y = ema(y, smoothing)
            curve = self.plot(
                x,
                y,
                name=run.name,
                pen=pg.mkPen(colour, width=width),
                connect="finite",
                skipFiniteCheck=True,
            )
            self._smoothed.append((run, curve))
        for item in self.listDataItems():
            # Peak mode keeps each pixel column's min and max: ~2 samples per pixel draw
            # the same envelope as pyqtgraph's default of ~10, with a fifth of the segments.
            item.opts["autoDownsampleFactor"] = DOWNSAMPLE_FACTOR
        self.addItem(self.readout, ignoreBounds=True)
        self.addItem(self.marker, ignoreBounds=True)
        self.readout.setText("")
        self.marker.setData([], [])

    def curves(self) -> list[pg.PlotDataItem]:
        """The main (smoothed, when smoothing is on) curve of each run, in run order."""
        return [c for _r, c in self._smoothed]

    def raw_curves(self) -> list[pg.PlotDataItem]:
        return list(self._raw)

    # Hover read-out ----------------------------------------------------------

    def _hover(self, event: tuple) -> None:
        pos = event[0]
        if not self.sceneBoundingRect().contains(pos) or not self._smoothed:
            return
        view = self.getPlotItem().vb.mapSceneToView(pos)
        self.show_nearest(view)

    def show_nearest(self, view: QPointF) -> str:
        """Mark the data point nearest to ``view`` (in view coordinates) and label it."""
        vb = self.getPlotItem().vb
        (x0, x1), (y0, y1) = vb.viewRange()
        sx, sy = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
        best: tuple[float, RunInfo, float, float] | None = None
        for run, curve in self._smoothed:
            x, y = curve.getData()  # what is drawn (log10 applied in log mode)
            if x is None or len(x) == 0:
                continue
            i = (
                int(np.clip(np.searchsorted(x, view.x()), 1, len(x) - 1))
                if len(x) > 1
                else 0
            )
            for j in {i - 1, i} if len(x) > 1 else {0}:
                if not np.isfinite(y[j]):
                    continue
                d = ((x[j] - view.x()) / sx) ** 2 + ((y[j] - view.y()) / sy) ** 2
                if best is None or d < best[0]:
                    best = (d, run, float(x[j]), float(y[j]))
        if best is None:
            return ""
        _d, run, x, y = best
        shown = 10**y if self.getPlotItem().ctrl.logYCheck.isChecked() else y
        text = f"{run.name}\nx = {x:.6g}\n{self.key} = {shown:.6g}"
        self.readout.setText(text)
        self.readout.setPos(x, y)
        self.marker.setData([x], [y])
        return text
