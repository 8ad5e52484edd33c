"""Fusion, with the parts that cost most to draw in software drawn flat.

Measured on the runs tab at 1400 x 850 (offscreen, the raster engine every platform without
OpenGL widgets uses): Fusion spent 11-16 ms of a 40-50 ms repaint after a tab switch on two
tall scroll bars (a gradient over the whole groove, 3.2 ms for one 769 px bar alone, where
Qt's plain Windows style takes 0.2 ms) and 5-6 ms on frames (an outline drawn with a
non-cosmetic pen goes through the path stroker). Here the groove is one fill, the slider
another, and frames a cosmetic one-pixel rectangle of Fusion's own outline colour; sizes,
hit areas and everything else are Fusion's.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleFactory, QStyleOption, QStyleOptionComplex, QWidget

_PE = QStyle.PrimitiveElement
_SC = QStyle.SubControl
_FRAMES = (_PE.PE_Frame, _PE.PE_FrameTabWidget)


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).value() < 128


def groove_colour(palette: QPalette) -> QColor:
    window = palette.color(QPalette.ColorRole.Window)
    return window.lighter(115) if _is_dark(palette) else window.darker(104)


def slider_colour(palette: QPalette, hot: bool) -> QColor:
    window = palette.color(QPalette.ColorRole.Window)
    if _is_dark(palette):
        return window.lighter(260 if hot else 200)
    return window.darker(165 if hot else 135)


class FlatFusion(QProxyStyle):
    def __init__(self) -> None:
        super().__init__(QStyleFactory.create("Fusion"))

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption, painter: QPainter,
                      widget: QWidget | None = None) -> None:
        if element not in _FRAMES:
            super().drawPrimitive(element, option, painter, widget)
            return
        painter.save()
        pen = QPen(option.palette.color(QPalette.ColorRole.Window).darker(140).lighter(108))
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.drawRect(option.rect.adjusted(0, 0, -1, -1))
        painter.restore()

    def drawComplexControl(self, control: QStyle.ComplexControl, option: QStyleOptionComplex, painter: QPainter,
                           widget: QWidget | None = None) -> None:
        if control != QStyle.ComplexControl.CC_ScrollBar:
            super().drawComplexControl(control, option, painter, widget)
            return
        palette = option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(option.rect, groove_colour(palette))
        slider = self.subControlRect(control, option, _SC.SC_ScrollBarSlider, widget)
        if slider.isValid() and option.state & QStyle.StateFlag.State_Enabled:
            hot = bool(option.activeSubControls & _SC.SC_ScrollBarSlider) and bool(
                option.state & (QStyle.StateFlag.State_MouseOver | QStyle.StateFlag.State_Sunken))
            painter.fillRect(slider.adjusted(2, 2, -2, -2), slider_colour(palette, hot))
        horizontal = option.orientation == Qt.Orientation.Horizontal  # type: ignore[attr-defined]
        for part, arrow in ((_SC.SC_ScrollBarSubLine, _PE.PE_IndicatorArrowLeft if horizontal else _PE.PE_IndicatorArrowUp),
                            (_SC.SC_ScrollBarAddLine, _PE.PE_IndicatorArrowRight if horizontal else _PE.PE_IndicatorArrowDown)):
            rect = self.subControlRect(control, option, part, widget)
            if rect.isValid():
                button = QStyleOption(option)
                button.rect = rect.adjusted(3, 3, -3, -3)
                super().drawPrimitive(arrow, button, painter, widget)
        painter.restore()
