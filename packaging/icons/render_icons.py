"""Render the one icon source, resources/icons/labdeck.svg, into the sizes desktops use.

Usage: python packaging/icons/render_icons.py OUT_DIR
Writes OUT_DIR/hicolor/<N>x<N>/apps/labdeck.png and hicolor/scalable/apps/labdeck.svg, the
freedesktop icon-theme layout (copy OUT_DIR/hicolor into ~/.local/share/icons/). Needs PySide6.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "resources" / "icons" / "labdeck.svg"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # the hicolor sizes desktops and docks ask for


def render(out_dir: Path, source: Path = SOURCE) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # QPainter wants one
    renderer = QSvgRenderer(str(source))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: not a valid SVG: {source}")
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        dest = out_dir / "hicolor" / f"{size}x{size}" / "apps" / "labdeck.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(dest), "PNG"):
            raise SystemExit(f"render_icons: could not write {dest}")
        written.append(dest)
    scalable = out_dir / "hicolor" / "scalable" / "apps" / "labdeck.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, scalable)
    return [*written, scalable]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for path in render(Path(sys.argv[1])):
        print(path)
