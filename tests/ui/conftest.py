"""Fixtures for the desktop app's tests: real indexed runs, a window per test, settings in
a temporary file (never the developer's own)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from labdeck.ui.main_window import MainWindow
from labdeck.workspace import Workspace
from PySide6.QtCore import QCoreApplication, QSettings
from tests_support import make_runs

WAIT_MS = 30_000  # a guard on a loaded machine (a pass starts the indexer process first), not a timing


class Gui:
    """Drives a window the way a user would and waits (never sleeps) for async results."""

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot

    def idle(self, w: MainWindow) -> None:
        """Until every background read has been delivered."""
        self.qtbot.waitUntil(lambda: w.background.idle, timeout=WAIT_MS)

    def until(self, condition: Callable[[], bool]) -> None:
        self.qtbot.waitUntil(condition, timeout=WAIT_MS)

    def loaded(self, w: MainWindow, rows: int) -> None:
        """Until the table has ``rows`` rows and all of them have arrived from the worker."""

        def ready() -> bool:
            if w.model.rowCount() != rows:
                return False
            return all(
                w.model.run_at(r) is not None for r in range(rows)
            )  # asks for missing pages

        self.until(ready)

    def texts(self, w: MainWindow, column: int = 0) -> list[str]:
        return [
            w.model.data(w.model.index(r, column)) for r in range(w.model.rowCount())
        ]

    def select(self, w: MainWindow, rows: list[int]) -> None:
        w.runs.select_rows(rows)
        self.idle(w)


@pytest.fixture(autouse=True)
def _app_names(monkeypatch, tmp_path):
    # QSettings needs these; XDG_CONFIG_HOME keeps any default QSettings out of ~/.config.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    QCoreApplication.setOrganizationName("labdeck-tests")
    QCoreApplication.setApplicationName("labdeck-tests")


@pytest.fixture
def gui(qtbot) -> Gui:
    return Gui(qtbot)


@pytest.fixture
def settings_path(tmp_path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def open_window(qtbot, gui: Gui, workspace: Workspace, settings_path: Path):
    """Open a main window on ``workspace``, waiting until the table shows ``rows`` runs."""
    opened: list[MainWindow] = []

    def open_(*, rows: int | None = None) -> MainWindow:
        settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
        w = MainWindow(workspace, watch=False, settings=settings)
        qtbot.addWidget(w)
        w.resize(1300, 800)
        w.show()
        opened.append(w)
        if rows is not None:
            gui.loaded(w, rows)
        gui.idle(w)
        return w

    yield open_
    for w in opened:
        w.indexing.shutdown()
        w.background.shutdown()


@pytest.fixture
def window(open_window, workspace, project) -> MainWindow:
    make_runs(project, 4, steps=30)
    workspace.add_project(project)
    workspace.index()
    return open_window(rows=4)
