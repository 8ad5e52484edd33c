"""Light and dark themes that follow the system: Fusion (its scroll bars and frames drawn
flat, ``flat_style``) with a palette chosen from
``styleHints().colorScheme()``, and pyqtgraph's foreground to match (plots draw on the
widget's own background; pyqtgraph is set up when ``ui.plotting`` first imports it)."""

from __future__ import annotations

import sys
from types import ModuleType

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from labdeck.ui.flat_style import FlatFusion


def is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(37, 37, 40), QColor(27, 27, 30), QColor(222, 222, 222)
    role = QPalette.ColorRole
    for r, c in (
        (role.Window, window),
        (role.WindowText, text),
        (role.Base, base),
        (role.AlternateBase, QColor(44, 44, 48)),
        (role.ToolTipBase, QColor(50, 50, 54)),
        (role.ToolTipText, text),
        (role.Text, text),
        (role.Button, QColor(48, 48, 52)),
        (role.ButtonText, text),
        (role.BrightText, QColor(255, 90, 90)),
        (role.Highlight, QColor(42, 130, 218)),
        (role.HighlightedText, QColor(255, 255, 255)),
        (role.Link, QColor(90, 160, 240)),
        (role.PlaceholderText, QColor(140, 140, 140)),
    ):
        p.setColor(r, c)
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, QColor(120, 120, 120))
    return p


def apply_theme(app: QApplication, dark: bool | None = None) -> None:
    """Apply the light or dark theme (by default: the system's current colour scheme)."""
    if not isinstance(app.style(), FlatFusion):
        _style[0] = FlatFusion()  # kept here too: the application does not own a Python object
        app.setStyle(_style[0])
    dark = is_dark() if dark is None else dark
    app.setPalette(dark_palette() if dark else app.style().standardPalette())
    _dark[0] = dark
    if "pyqtgraph" in sys.modules:  # plots exist already: they follow the new scheme
        configure_plots(sys.modules["pyqtgraph"])


_dark = [False]  # the scheme last applied
_style: list[FlatFusion | None] = [None]


def configure_plots(pg: ModuleType) -> None:
    """pyqtgraph's options for the scheme last applied."""
    pg.setConfigOptions(
        antialias=False, foreground="#d0d0d0" if _dark[0] else "#303030", background=None
    )


def follow_system(app: QApplication) -> None:
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _s: apply_theme(app))
