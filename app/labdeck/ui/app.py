"""Starting the desktop app."""

from __future__ import annotations

import gc
import os
import sys
import time
from importlib.resources import files
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from labdeck.db.engine import IndexOpenError
from labdeck.ui.open_index import open_workspace
from labdeck.ui.theme import follow_system


def run_app(index: str | None = None, project_dirs: list[str] | None = None) -> int:
    QCoreApplication.setOrganizationName("labdeck")
    QCoreApplication.setApplicationName("labdeck")
    app = QApplication.instance() or QApplication(sys.argv)
    follow_system(app)  # Fusion, light or dark as the system is
    icon = _icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    try:
        workspace = open_workspace(index)
    except IndexOpenError as exc:
        QMessageBox.critical(None, "labdeck", str(exc))
        return 2
    for folder in project_dirs or []:
        workspace.add_project(folder)
    first_start = not project_dirs and not workspace.projects()

    from labdeck.ui.main_window import MainWindow

    window = MainWindow(workspace)
    window.resize(1400, 850)
    window.show()
    keep_start_up_objects()
    if first_start:
        _make_demo_in_background(window)
    preload_after_first_page(window)
    index_after_first_listing(window)
    quit_after = os.environ.get("LABDECK_QUIT_AFTER_PAINT")
    if quit_after == "first-page":
        _quit_after_first_page(app, window)
    elif quit_after:
        _quit_after_first_paint(app, window)
    code = app.exec()
    workspace.close()
    return code


def keep_start_up_objects() -> None:
    """What start-up built (modules, the window's widgets) lives as long as the app: frozen
    out of the cyclic collector's reach, a full collection walks only what came after. Full
    collections took 27–43 ms at 100,000 runs, on the GUI thread or on a reader it then waited
    for; frozen, none took over 10 ms through sorting, filtering and grouping. (No collection
    first: it would hold up the first paint, for a few kilobytes of start-up garbage.)"""
    gc.freeze()


def _make_demo_in_background(window) -> None:
    """First start: train the demo workspace off the GUI thread, then add it as a project."""
    from labdeck.demo import make_demo

    window.statusBar().showMessage("Creating the demo workspace (a small real training)…")
    window.background.submit(
        "demo",
        make_demo,
        lambda folder: window.add_project(str(folder)),
        on_error=lambda exc: QMessageBox.warning(window, "labdeck", f"Could not create the demo: {exc}"),
    )


def _icon_path() -> Path | None:
    """The app icon: in a PyInstaller bundle, an installed wheel, or the checkout's resources/."""
    # A PyInstaller bundle keeps the wheel's layout under sys._MEIPASS.
    if getattr(sys, "frozen", False):
        roots = [Path(getattr(sys, "_MEIPASS", "")) / "labdeck" / "resources"]
    else:
        roots = [
            Path(str(files("labdeck") / "resources")),
            Path(__file__).resolve().parents[3] / "resources",
        ]
    return next(
        (p for p in (r / "icons" / "labdeck.svg" for r in roots) if p.is_file()), None
    )


def preload_after_first_page(window) -> None:
    """The window opens without pyqtgraph (``ui.plotting``: about 0.4 s to import) and without
    what the other tabs work with (SQLAlchemy and the services of datasets, models and jobs:
    about 0.6 s). Once the first page of runs is on screen, or after two seconds, a worker
    imports them, so the first chart or the first visit of a tab does not wait for them: a
    worker importing the ORM's classes holds the interpreter for up to 70 ms at a time, the
    GUI thread's worst wait when a tab did it on its first visit."""
    def preload() -> None:
        _preload()
        window.store.keep_orders()  # re-sorts and filters ordered in memory from now on

    _on_first_page(window, lambda: window.background.submit("preload", preload, lambda _done: None),
                   interval_ms=20, give_up_s=2.0)


def index_after_first_listing(window) -> None:
    """The start-up pass and the watcher begin once the table has its first listing (a page
    of runs, or none in an empty index), on the next turn of the event loop so the page is
    painted first: they load the readers, pandas and SQLAlchemy (about 0.8 s of imports),
    which would otherwise compete with the first page for the interpreter."""

    started = False

    def start() -> None:
        nonlocal started
        if not started and window.isVisible():  # once: the first listing, or the fallback below
            started = True
            window.runs.rows_loaded.disconnect(listed)
            window.start_indexing()

    def listed(_rows: int) -> None:
        QTimer.singleShot(0, window, start)  # the window as context: never called once it is gone

    window.runs.rows_loaded.connect(listed)
    QTimer.singleShot(3000, window, start)  # a first listing that failed (its message shows) must not stop indexing


def _preload() -> None:
    import labdeck.datasets.service  # noqa: F401 - the Datasets tab's service (pandas on use)
    import labdeck.launch.control  # noqa: F401 - the Jobs tab's calls
    import labdeck.launch.reproduce  # noqa: F401
    import labdeck.launch.submit  # noqa: F401
    import labdeck.models.publish  # noqa: F401 - the Models tab's services
    import labdeck.models.versions  # noqa: F401
    import labdeck.ui.metric_plot  # noqa: F401 - pyqtgraph and the plot widget


def _quit_after_first_page(app: QApplication, window) -> None:
    """Start-up timing (LABDECK_QUIT_AFTER_PAINT=first-page): quit once the runs table shows
    its first page of runs, painted, and print the wall-clock time it was painted at
    (scripts/bench_ui.py times launch to that moment: quitting waits for work begun after
    the first page, which the user does not wait for)."""

    def quit_() -> None:
        window.repaint()  # the page, on screen
        print(f"first page painted at {time.time():.6f}", flush=True)
        app.quit()

    _on_first_page(window, quit_, interval_ms=2)


def _on_first_page(window, then, *, interval_ms: int, give_up_s: float | None = None) -> None:
    """Call ``then()`` once the runs table holds its first page of runs (or after
    ``give_up_s``: an empty index has none)."""
    deadline = None if give_up_s is None else time.monotonic() + give_up_s

    def check() -> None:
        model = window.model
        if (model.rowCount() and model.is_loaded(0)) or (deadline is not None and time.monotonic() > deadline):
            timer.stop()
            then()

    timer = QTimer(window)
    timer.setInterval(interval_ms)
    timer.timeout.connect(check)
    timer.start()


def _quit_after_first_paint(app: QApplication, window: QObject) -> None:
    """Start-up timing (LABDECK_QUIT_AFTER_PAINT=1): quit once the main window has painted."""

    class _FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                app.removeEventFilter(self)
                QTimer.singleShot(0, app.quit)  # let this paint finish first
            return False

    app.installEventFilter(_FirstPaint(window))
