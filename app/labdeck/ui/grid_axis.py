"""Plot axes whose grid is drawn opaque and beneath the curves.

pyqtgraph draws a grid as the axes' tick lines made translucent, above the curves. Qt's
raster engine blends a translucent line pixel by pixel: on a chart of 100 curves the grid
took 16 of a 59 ms pan frame (``scripts/bench_ui.py``), and an opaque line of the same
length draws about eight times faster. Each line is drawn instead in the colour its
translucent self would have over the plot's background, and the axes sit beneath the view
box, as TensorBoard and the MLflow UI draw their grids: the grid looks the same where no
curve passes and never dims a curve where one does.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QColor, QPalette, QPen
from PySide6.QtWidgets import QApplication

from labdeck.ui.plotting import pg


class GridAxis(pg.AxisItem):
    def generateDrawSpecs(self, p):  # noqa: N802 - pyqtgraph's name
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        background = _background()
        return axis, [(_opaque(pen, background), a, b) for pen, a, b in ticks], texts


    def updateAutoSIPrefix(self):  # noqa: N802 - pyqtgraph's name
        """No SI prefix on a log axis: learning rates from 1e-3 to 1e-1 read "0.001 … 0.1",
        not "1 … 100" under "(x0.001)"."""
        if not self.logMode:
            return super().updateAutoSIPrefix()
        self.autoSIPrefixScale = 1.0
        self.labelUnitPrefix = ""
        self._updateLabel()

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        """On a log axis, the values themselves ("0.05", "10", not "5·10⁻²"), at the decades,
        and at 2 and 5 times them where fewer than three decades show: pyqtgraph labels
        every minor tick, and their labels ran into each other."""
        few = len(values) < 2 or max(values) - min(values) < 3
        wanted = {1, 2, 5} if few else {1}
        labels = []
        for v in values:
            number = 10.0 ** v * scale
            mantissa = round(10.0 ** (v - math.floor(v + 1e-9)), 6)
            labels.append(f"{number:g}" if mantissa in wanted else "")
        return labels


def grid_axes() -> dict[str, GridAxis]:
    """The axes for a plot item (``axisItems``), placed beneath its view box once added."""
    return {side: GridAxis(side) for side in ("left", "bottom")}


def put_beneath_view(item: pg.PlotItem) -> None:
    for side in ("left", "bottom"):
        item.getAxis(side).setZValue(-1)  # below the view box (z 0) and its curves


def _background() -> QColor:
    # A plot made with background=None shows the window's colour (the theme's, when it changes).
    return QApplication.palette().color(QPalette.ColorRole.Window)


def _opaque(pen: QPen, background: QColor) -> QPen:
    colour = pen.color()
    alpha = colour.alphaF()
    if alpha >= 1.0:
        return pen
    mixed = QColor.fromRgbF(
        colour.redF() * alpha + background.redF() * (1 - alpha),
        colour.greenF() * alpha + background.greenF() * (1 - alpha),
        colour.blueF() * alpha + background.blueF() * (1 - alpha),
    )
    opaque = QPen(pen)
    opaque.setColor(mixed)
    return opaque
