"""Starting the desktop app."""

from __future__ import annotations

import sys

from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from labdeck.db.engine import IndexOpenError
from labdeck.workspace import Workspace


def run_app(index: str | None = None, project_dirs: list[str] | None = None) -> int:
    QCoreApplication.setOrganizationName("labdeck")
    QCoreApplication.setApplicationName("labdeck")
    app = QApplication.instance() or QApplication(sys.argv)
    app.setStyle("Fusion")  # follows the system's light/dark palette on every platform
    icon = _icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    try:
        workspace = Workspace(index)
    except IndexOpenError as exc:
        QMessageBox.critical(None, "labdeck", str(exc))
        return 2
    if project_dirs:
        for folder in project_dirs:
            workspace.add_project(folder)
    elif not workspace.projects():
        from labdeck.demo import make_demo

        workspace.add_project(make_demo())

    from labdeck.ui.main_window import MainWindow

    window = MainWindow(workspace)
    window.resize(1400, 850)
    window.show()
    window.indexing.index(None)
    code = app.exec()
    workspace.close()
    return code


def _icon_path() -> Path | None:
    """The app icon from the checkout's resources/ (bundles carry their own copy)."""
    candidate = Path(__file__).resolve().parents[3] / "resources" / "icons" / "labdeck.svg"
    return candidate if candidate.is_file() else None
