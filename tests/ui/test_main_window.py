"""The main window, driven through its real widgets (offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

import labdeck
from labdeck.ui.main_window import MainWindow
from labdeck.ui.runs_model import RunsTableModel
from tests_support import make_runs

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, workspace, project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # QSettings stay in the test
    make_runs(project, 4, steps=30)
    workspace.add_project(project)
    workspace.index()
    w = MainWindow(workspace, watch=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.indexing.shutdown()


def test_runs_model_passes_the_model_tester(qtmodeltester, workspace, project):
    make_runs(project, 3, steps=5)
    workspace.add_project(project)
    workspace.index()
    model = RunsTableModel(workspace)
    model.set_pks(workspace.run_pks())
    model.set_extra_columns(["params.lr", "metrics.loss"])
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    assert model.data(model.index(0, model.columnCount() - 1)) == "0.2"  # metrics.loss last = 1/5


def test_table_lists_runs_and_query_filters_them(window, qtbot):
    assert window.model.rowCount() == 4
    window.query.setText("params.idx >= 2")
    qtbot.keyClick(window.query, Qt.Key.Key_Return)
    names = sorted(window.model.data(window.model.index(r, 0)) for r in range(window.model.rowCount()))
    assert names == ["run-2", "run-3"]


def test_bad_query_shows_an_inline_error_and_keeps_the_rows(window, qtbot):
    window.query.setText("status = done")
    qtbot.keyClick(window.query, Qt.Key.Key_Return)
    assert window.query_error.isVisible()
    assert "unknown status 'done'" in window.query_error.text()
    assert window.query.cursorPosition() == len("status = ")
    assert window.model.rowCount() == 4


def test_selecting_runs_shows_details_and_overlays_curves(window, qtbot):
    selection = window.table.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    selection.select(window.model.index(0, 0), flags)
    assert "Params" in window.details.toPlainText() or "lr" in window.details.toPlainText()
    selection.select(window.model.index(1, 0), flags)
    window.plot.metric.setCurrentText("loss")
    curves = window.plot.curves()
    assert len(curves) == 2
    x, y = curves[0].getOriginalDataset()
    assert len(x) == 30 and y[0] == 1.0


def test_clicking_a_header_sorts_in_the_index(window, qtbot):
    header = window.table.horizontalHeader()
    header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)
    names = [window.model.data(window.model.index(r, 0)) for r in range(4)]
    assert names == ["run-3", "run-2", "run-1", "run-0"]


def test_live_points_update_rows_without_losing_selection(window, qtbot, workspace, project):
    window.table.selectRow(0)
    selected = window.selected_runs()[0].id
    run = labdeck.start_run(project, name="new-live", record_provenance=False)
    run.log({"loss": 3.0}, step=0)
    workspace.index()
    window._live_update()  # what the watcher's signal triggers
    assert window.model.rowCount() == 5
    assert [r.id for r in window.selected_runs()] == [selected]
    run.end()


def test_warnings_are_one_click_away(window, qtbot, workspace, project):
    (bad,) = make_runs(project / "more", 1, steps=2)
    (bad.dir / "labdeck-run.json").write_text("{oops")
    workspace.index()
    window.reload_projects()
    assert window.warnings_button.text() == "1 warning"
