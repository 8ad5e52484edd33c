"""Render the main window offscreen with chosen runs selected and compared, to a PNG
(`labdeck screenshot`; the README's pictures are made this way)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from labdeck.errors import UserError
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
    view: str = "runs",
    group_by: str = "",
    columns: list[str] | None = None,
    log_y: bool = False,
    smoothing: float = 0.0,
) -> Path:
    """Save a PNG of the window showing ``view`` (runs, datasets, models, jobs; ``tab`` is the
    Runs tab's analysis tab); returns its path. Settings go to a throwaway file, so the
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
        if group_by:
            window.runs.set_group_by(group_by)
            _settle(app, window)
        window.compare.log_y.setChecked(log_y)
        window.compare.smoothing.setValue(round(smoothing * 100))
        if metrics:
            logged = sorted({k for r in window.compare.runs for k in r.metrics})
            missing = [m for m in metrics if m not in logged]
            if missing:
                raise UserError(f"the selected runs log no {', '.join(map(repr, missing))}; "
                                f"they log: {', '.join(logged) or 'no metrics'}")
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
        if view.lower() != "runs":
            _show_view(app, window, view)
        image = window.grab()
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(target)):
            raise OSError(f"cannot write {target}")
        window.close()
        window.deleteLater()
        app.processEvents()
    return target


def _show_view(app, window, name: str) -> None:
    """Switch to the tab titled ``name`` and show its first entry, as a user opening it would."""
    title = next((t for t in window.views if t.lower() == name.lower()), None)
    if title is None:
        raise ValueError(f"no tab {name!r}; the tabs are runs, " + ", ".join(t.lower() for t in window.views))
    view = window.views[title]
    window.tabs.setCurrentWidget(view)
    _settle(app, window, view)
    tree = getattr(view, "tree", None)  # datasets: the first dataset's newest version
    if tree is not None and tree.topLevelItemCount() and tree.topLevelItem(0).childCount():
        tree.setCurrentItem(tree.topLevelItem(0).child(0))
    table = getattr(view, "table", None)  # models, jobs: the first row
    if table is not None and hasattr(table, "selectRow") and table.model().rowCount():
        table.selectRow(0)
    _settle(app, window, view)
    files = getattr(view, "files", None)  # datasets: its first file's preview and statistics
    if files is not None and files.topLevelItemCount():
        files.setCurrentItem(files.topLevelItem(0))
        _settle(app, window, view)


def _view_idle(view) -> bool:
    """No read of the view in flight (each view keeps its own worker: busy flags or a set)."""
    if view is None:
        return True
    if getattr(view, "_in_flight", None):
        return False
    return not any(getattr(getattr(view, attr, None), "busy", False) for attr in ("reads", "actions", "jobs"))


def _settle(app, window, view=None) -> None:
    """Process events until every background read has landed (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        app.processEvents()
        time.sleep(0.02)
        quiet = quiet + 1 if window.background.idle and _view_idle(view) else 0
    app.processEvents()
