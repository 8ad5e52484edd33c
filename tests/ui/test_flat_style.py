"""The app's style: Fusion with flat scroll bars and frames, in light and dark palettes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollBar, QStyle, QStyleOptionSlider

from labdeck.ui.flat_style import FlatFusion, groove_colour, slider_colour
from labdeck.ui.theme import dark_palette

pytestmark = pytest.mark.gui
_BAR = QStyle.ComplexControl.CC_ScrollBar


@pytest.mark.parametrize("dark", [False, True])
def test_a_scroll_bar_shows_its_groove_its_slider_and_its_arrows(qapp, dark):
    style = FlatFusion()
    palette = dark_palette() if dark else style.standardPalette()
    bar = QScrollBar(Qt.Orientation.Vertical)
    bar.setStyle(style)
    bar.setPalette(palette)
    bar.resize(14, 400)
    bar.setRange(0, 1000)
    bar.setPageStep(250)
    bar.setValue(0)
    image = bar.grab().toImage()
    option = QStyleOptionSlider()
    bar.initStyleOption(option)
    slider = style.subControlRect(_BAR, option, QStyle.SubControl.SC_ScrollBarSlider, bar)
    inside = image.pixelColor(slider.center())
    assert inside.rgb() == slider_colour(palette, hot=False).rgb()
    below = image.pixelColor(7, slider.bottom() + 40)  # the groove under the slider
    assert below.rgb() == groove_colour(palette).rgb()
    arrow = style.subControlRect(_BAR, option, QStyle.SubControl.SC_ScrollBarAddLine, bar)
    colours = {image.pixelColor(x, y).rgb() for x in range(arrow.left(), arrow.right())
               for y in range(arrow.top(), arrow.bottom())}
    assert len(colours) > 1  # an arrow is drawn on the button


def test_frames_are_a_one_pixel_outline(qapp):
    frame = QFrame()
    frame.setStyle(FlatFusion())
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.resize(200, 100)
    image = frame.grab().toImage()
    edge, inside = image.pixelColor(0, 50), image.pixelColor(100, 50)
    assert edge != inside and image.pixelColor(1, 50) == inside
