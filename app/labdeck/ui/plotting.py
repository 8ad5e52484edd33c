"""pyqtgraph, imported on first use and set up to the app's theme.

Importing pyqtgraph costs about 370 ms (its Qt shim reads every class of QtCore, QtGui and
QtWidgets, which defeats PySide6's lazy loading): the window shows its first page of runs
without it, and the plots import it from here when they are first built.
"""

from __future__ import annotations

import pyqtgraph as pg

from labdeck.ui import theme

theme.configure_plots(pg)

__all__ = ["pg"]
