"""What the main window remembers between launches (QSettings): geometry, splitter layout,
the runs table's chosen columns and header, the last project and query, compare options.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QSettings

from labdeck.ui.sidebar import Scope

if TYPE_CHECKING:
    from labdeck.ui.main_window import MainWindow

VERSION = 1  # bump when a stored value changes meaning; older values are then ignored


def default_settings() -> QSettings:
    """The user's settings (~/.config/labdeck/labdeck.conf on Linux)."""
    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName("labdeck")
        QCoreApplication.setApplicationName("labdeck")
    return QSettings()


def _bytes(settings: QSettings, key: str):
    value = settings.value(key)
    return value if value else None


def restore(window: MainWindow, settings: QSettings) -> Scope:
    """Apply saved state; returns the last chosen project / experiment."""
    if settings.value("version", type=int) != VERSION:
        return Scope()
    geometry = _bytes(settings, "main/geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    for key, splitter in (
        ("main/splitter", window.splitter),
        ("main/centre", window.centre),
    ):
        state = _bytes(settings, key)
        if state is not None:
            splitter.restoreState(state)
    columns = settings.value("runs/columns")
    if isinstance(columns, str):
        columns = [
            columns
        ]  # QSettings' INI format hands a one-item list back as a string
    if isinstance(columns, list):
        window.runs.set_columns([str(c) for c in columns])
    window.runs.restore_header(_bytes(settings, "runs/header"))
    window.runs.query.setText(str(settings.value("runs/query", "")))
    compare = settings.value("compare/state")
    if compare:
        try:
            window.compare.restore(json.loads(str(compare)))
        except (ValueError, TypeError):
            pass
    window.analysis.setCurrentIndex(int(settings.value("analysis/tab", 0, type=int)))
    project = settings.value("main/project")
    experiment = settings.value("main/experiment")
    return Scope(
        str(project) if project else None,
        str(experiment) if project and experiment else None,
    )


def save(window: MainWindow, settings: QSettings) -> None:
    settings.setValue("version", VERSION)
    settings.setValue("main/geometry", window.saveGeometry())
    settings.setValue("main/splitter", window.splitter.saveState())
    settings.setValue("main/centre", window.centre.saveState())
    settings.setValue("runs/columns", window.runs.model.extra_columns)
    settings.setValue("runs/header", window.table.horizontalHeader().saveState())
    settings.setValue("runs/query", window.runs.query.text())
    settings.setValue("compare/state", json.dumps(window.compare.state()))
    settings.setValue("analysis/tab", window.analysis.currentIndex())
    scope = window.sidebar.scope()
    settings.setValue("main/project", scope.project or "")
    settings.setValue("main/experiment", scope.experiment or "")
    settings.sync()
