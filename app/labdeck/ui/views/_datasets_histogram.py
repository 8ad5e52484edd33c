"""A column's histogram drawn with pyqtgraph: bars over the profile's own bin edges.

Small enough to sit in a row of the column statistics; no axes or mouse, the bars only,
with the counts and edges in the tooltip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyqtgraph as pg

ROW_SIZE = (120, 28)  # width, height in pixels: one stats row


def histogram_widget(counts: list[int], edges: list[float]) -> pg.PlotWidget:
    from labdeck.ui.plotting import pg  # here: the window opens without pyqtgraph

    plot = pg.PlotWidget(background=None)
    plot.setFixedSize(*ROW_SIZE)
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setMouseEnabled(False, False)
    plot.hideButtons()
    plot.getPlotItem().setMenuEnabled(False)
    plot.getPlotItem().layout.setContentsMargins(0, 0, 0, 0)
    widths = [b - a for a, b in zip(edges, edges[1:])]
    bars = pg.BarGraphItem(x0=edges[:-1], width=widths, height=counts, brush=pg.mkBrush(70, 130, 200),
                           pen=pg.mkPen(None))
    plot.addItem(bars)
    plot.bars = bars  # the test and tooltips read the drawn item back
    if edges:
        plot.setXRange(edges[0], edges[-1], padding=0)
    plot.setYRange(0, max(counts) if counts and max(counts) else 1, padding=0.05)
    plot.setToolTip(f"{len(counts)} bins over [{edges[0]:.4g}, {edges[-1]:.4g}]: "
                    + ", ".join(str(c) for c in counts) if edges else "")
    return plot
