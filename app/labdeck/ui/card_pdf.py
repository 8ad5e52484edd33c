"""Printing a model card to PDF through Qt (QTextDocument + QPdfWriter): no browser needed.

The html card's SVG plots are data: URIs, which QTextDocument does not fetch itself: each is
rasterised with QSvgRenderer and registered as the document's image resource under its URL.
Works without a display: from the command line, an offscreen QGuiApplication is made.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QMarginsF, QSizeF, QUrl
from PySide6.QtGui import (
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

_SVG_SRC = re.compile(r'src="(data:image/svg\+xml;base64,[A-Za-z0-9+/=]+)"')
DPI = 300
IMAGE_SCALE = 2  # rasterise plots at twice their size: sharp when printed


def _ensure_app() -> None:
    if QGuiApplication.instance() is None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        global _APP
        # A QApplication (not just QGuiApplication): widgets created later in the same
        # process (the app, tests) need one, and Qt allows only one application object.
        _APP = QApplication([])


_APP: QApplication | None = None


def _svg_image(uri: str) -> QImage:
    data = base64.b64decode(uri.split(",", 1)[1])
    renderer = QSvgRenderer(QByteArray(data))
    size = renderer.defaultSize()
    image = QImage(size.width() * IMAGE_SCALE, size.height() * IMAGE_SCALE, QImage.Format.Format_ARGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    image.setDevicePixelRatio(IMAGE_SCALE)
    return image


def document(page: str) -> QTextDocument:
    """The html card as a QTextDocument with its plots loaded (also used for the dialog's preview)."""
    _ensure_app()
    doc = QTextDocument()
    font = doc.defaultFont()
    # No ligatures: 'ff' in a hash must stay two letters for whoever copies it out of the PDF.
    font.setFeature(QFont.Tag("liga"), 0)
    doc.setDefaultFont(font)
    for uri in dict.fromkeys(_SVG_SRC.findall(page)):
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(uri), _svg_image(uri))
    doc.setHtml(page)
    return doc


def print_pdf(page: str, path: str | os.PathLike) -> Path:
    """Print the html ``page`` to a PDF at ``path`` (A4, 15 mm margins)."""
    doc = document(page)
    target = Path(path)
    writer = QPdfWriter(str(target))
    writer.setResolution(DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setTitle(doc.metaInformation(QTextDocument.MetaInformation.DocumentTitle) or "model card")
    writer.setCreator("labdeck")
    doc.setPageSize(QSizeF(writer.pageLayout().paintRectPixels(DPI).size()))
    doc.print_(writer)
    if not target.is_file() or target.stat().st_size == 0:
        raise OSError(f"Qt wrote no PDF at {target}")
    return target
