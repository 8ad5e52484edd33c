"""Render the main window offscreen with chosen runs selected and compared, to a PNG
(`labdeck screenshot`; the README's pictures are made this way)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from labdeck.workspace import Workspace

SETTLE_TIMEOUT_S = 30.0


def render(
    workspace: Workspace,
    out: str | os.PathLike,
    *,
    project: str | None = None,
    select: str = "",
    metrics: list[str] | None = None,
    size: tuple[int, int] = (1500, 900),
    tab: str = "Compare",
    columns: list[str] | None = None,
    log_y: bool = False,
    smoothing: float = 0.0,
) -> Path:
    """Save a PNG of the window; returns its path. Settings go to a throwaway file, so the
    user's own window layout is neither used nor changed."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from labdeck.ui.main_window import MainWindow
    from labdeck.ui.sidebar import Scope
    from labdeck.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(
            str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat
        )
        window = MainWindow(workspace, watch=False, settings=settings)
        window.resize(*size)
        window.show()
        _settle(app, window)
        if project:
            window.reload_projects(select=Scope(project))
            _settle(app, window)
        pks = set(workspace.run_pks(select, project=project)) if select else set()
        rows = [
            r for r in range(window.model.rowCount()) if window.model.pk_at(r) in pks
        ]
        if not rows and window.model.rowCount():
            rows = list(range(min(6, window.model.rowCount())))
        window.runs.select_rows(rows)
        _settle(app, window)
        if columns:
            window.runs.set_columns(columns)
        window.compare.log_y.setChecked(log_y)
        window.compare.smoothing.setValue(round(smoothing * 100))
        if metrics:
            window.compare.set_metrics(metrics)
            _settle(app, window)
        for i in range(window.analysis.count()):
            if window.analysis.tabText(i).startswith(tab):
                window.analysis.setCurrentIndex(i)
        if len(rows) == 1:
            window.details.setCurrentIndex(0)
        for r in range(window.model.rowCount()):
            window.model.run_at(r)  # ask for every visible page
        _settle(app, window)
        image = window.grab()
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target)):
            raise OSError(f"cannot write {target}")
        window.close()
        window.deleteLater()
        app.processEvents()
    return target


def _settle(app, window) -> None:
    """Process events until every background read has landed (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        app.processEvents()
        time.sleep(0.02)
        quiet = quiet + 1 if window.background.idle else 0
    app.processEvents()
