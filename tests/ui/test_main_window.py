"""The main window, driven through its real widgets (offscreen) on real indexed runs."""

from __future__ import annotations

import labdeck
import pytest
from labdeck.ui.runs_model import PLACEHOLDER, RunsTableModel
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QDropEvent, QGuiApplication
from tests_support import make_runs

pytestmark = pytest.mark.gui


def test_runs_model_passes_the_model_tester_and_never_reads_on_the_gui_thread(
    qtmodeltester, qtbot, workspace, project
):
    from labdeck.ui.ops import ReadChannels
    from labdeck.run_reads import RunReads

    make_runs(project, 3, steps=5)
    workspace.add_project(project)
    workspace.index()
    background = ReadChannels()
    model = RunsTableModel(RunReads(workspace), background)
    model.set_pks(workspace.run_pks())
    model.set_extra_columns(["params.lr", "metrics.loss"])
    # Before the worker's page arrives, data() answers with a placeholder, not a query.
    assert model.data(model.index(0, 0)) == PLACEHOLDER
    qtmodeltester.check(model)
    qtbot.waitUntil(
        lambda: model.data(model.index(0, 0)) != PLACEHOLDER, timeout=10_000
    )
    assert model.rowCount() == 3
    assert (
        model.data(model.index(0, model.columnCount() - 1)) == "0.2"
    )  # metrics.loss last = 1/5
    qtmodeltester.check(model)
    background.shutdown()


def test_table_fills_and_a_query_narrows_it(window, gui, qtbot):
    assert sorted(gui.texts(window)) == ["run-0", "run-1", "run-2", "run-3"]
    window.query.setText("params.idx >= 2")
    qtbot.keyClick(window.query, Qt.Key.Key_Return)
    gui.loaded(window, 2)
    assert sorted(gui.texts(window)) == ["run-2", "run-3"]
    assert window.runs.count_label.text() == "2 runs"


def test_bad_query_shows_an_inline_error_and_keeps_the_rows(window, gui, qtbot):
    window.query.setText("status = done")
    qtbot.keyClick(window.query, Qt.Key.Key_Return)
    assert window.query_error.isVisible()
    assert "unknown status 'done'" in window.query_error.text()
    assert window.query.cursorPosition() == len("status = ")
    gui.idle(window)
    assert window.model.rowCount() == 4


def test_clicking_headers_sorts_in_the_index(window, gui):
    header = window.table.horizontalHeader()
    header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)
    gui.until(lambda: gui.texts(window) == ["run-3", "run-2", "run-1", "run-0"])
    window.runs.set_columns(["params.lr"])
    window.runs.sort_by(
        "params.lr", descending=False
    )  # 1e-4 < 1e-3 < ...: numeric, in SQL
    gui.until(lambda: gui.texts(window) == ["run-3", "run-2", "run-1", "run-0"])
    window.runs.sort_by("params.lr", descending=True)
    gui.until(lambda: gui.texts(window) == ["run-0", "run-1", "run-2", "run-3"])


def test_after_the_first_page_sorts_are_ordered_in_memory_as_the_index_orders(window, gui, workspace, project):
    """Once the first page is shown the app keeps the order columns in memory (as it does
    on start-up); header clicks then order exactly as SQL does, and a run indexed meanwhile
    takes its place at the next sort."""
    from labdeck.runs.query import parse_sort
    from labdeck.ui.app import preload_after_first_page

    preload_after_first_page(window)
    gui.until(lambda: window.store._orders is not None and window.background.idle)
    window.runs.set_columns(["metrics.acc"])
    acc = window.model.columnCount() - 1
    header = window.table.horizontalHeader()
    for order, sort in ((Qt.SortOrder.AscendingOrder, "metrics.acc"), (Qt.SortOrder.DescendingOrder, "-metrics.acc")):
        header.setSortIndicator(acc, order)
        expected = [r.name for r in workspace.runs("", sort)]
        assert expected[0] == ("run-0" if order == Qt.SortOrder.AscendingOrder else "run-3")
        gui.until(lambda: gui.texts(window) == expected)
        gui.idle(window)  # the table has kept what orders it: the next such listing is from memory
        kept = window.store._orders.run_pks(None, parse_sort(sort), kept_only=True)
        assert [r.name for r in workspace.runs_by_pk(kept)] == expected
    with labdeck.start_run(project, name="best", record_provenance=False) as run:
        run.log({"acc": 100.0}, step=0)
    workspace.index()
    header.setSortIndicator(acc, Qt.SortOrder.AscendingOrder)
    header.setSortIndicator(acc, Qt.SortOrder.DescendingOrder)
    gui.until(lambda: gui.texts(window)[:2] == ["best", "run-3"] and len(gui.texts(window)) == 5)


def test_the_first_click_on_a_shown_column_is_ordered_in_memory(window, gui, workspace):
    """After a listing is shown, the table keeps the order of every column it shows: the
    first sort by one of them needs no SQL sort, and orders as SQL does."""
    from labdeck.runs.query import parse_sort
    from labdeck.ui.app import preload_after_first_page

    preload_after_first_page(window)
    gui.until(lambda: window.store._orders is not None and window.background.idle)
    window.runs.set_columns(["metrics.acc", "params.lr"])
    gui.until(lambda: window.background.idle)
    orders = window.store._orders
    for sort in ("-metrics.acc", "params.lr", "status", "-start_time", "name"):
        kept = orders.run_pks(None, parse_sort(sort), kept_only=True)
        assert kept is not None, sort
        assert kept == workspace.run_pks("", sort), sort
    window.table.horizontalHeader().hideSection(window.model.columnCount() - 1)  # params.lr hidden
    assert "params.\"lr\"" not in window.runs._sortable_columns()


def test_column_picker_adds_any_param_metric_or_tag(window, gui):
    gui.idle(window)
    window.runs._fill_columns_menu()
    menus = {a.text(): a.menu() for a in window.runs.columns_menu.actions() if a.menu()}
    assert set(menus) == {"Params", "Metrics", "Tags"}
    loss = next(a for a in menus["Metrics"].actions() if a.text() == "loss")
    loss.trigger()
    assert window.model.extra_columns == ["metrics.loss"]
    header = window.model.headerData(
        window.model.columnCount() - 1, Qt.Orientation.Horizontal
    )
    assert header == "metrics.loss"
    gui.loaded(window, 4)
    value = window.model.data(window.model.index(0, window.model.columnCount() - 1))
    assert value == f"{1 / 30:.5g}"


def test_selected_runs_draw_one_curve_per_run_with_every_point(window, gui):
    gui.select(window, [0, 1])
    assert (
        "Params" in window.details.toPlainText()
        or "2 runs selected" in window.details.toPlainText()
    )
    window.compare.set_metrics(["loss", "acc"])
    gui.idle(window)
    assert set(window.compare.plots) == {"loss", "acc"}
    curves = window.compare.curves("loss")
    assert len(curves) == 2
    for curve in curves:
        x, y = curve.getOriginalDataset()
        assert len(x) == 30 and y[0] == 1.0
    # The same run has the same colour in every plot.
    loss_pens = [c.opts["pen"].color().name() for c in window.compare.curves("loss")]
    acc_pens = [c.opts["pen"].color().name() for c in window.compare.curves("acc")]
    assert loss_pens == acc_pens and len(set(loss_pens)) == 2


def test_smoothing_keeps_the_raw_curve_faint_behind_and_log_y(window, gui):
    gui.select(window, [0])
    window.compare.set_metrics(["loss"])
    gui.idle(window)
    window.compare.smoothing.setValue(90)
    plot = window.compare.plots["loss"]
    (raw,) = plot.raw_curves()
    (smooth,) = plot.curves()
    assert raw.opts["pen"].color().alpha() < 100
    raw_y, smooth_y = raw.getOriginalDataset()[1], smooth.getOriginalDataset()[1]
    assert (
        smooth_y[0] == raw_y[0] and smooth_y[-1] > raw_y[-1]
    )  # smoothing lags a falling loss
    window.compare.log_y.setChecked(True)
    assert window.compare.plots["loss"].getPlotItem().ctrl.logYCheck.isChecked()
    window.compare.x_axis.setCurrentText("relative time")
    x = window.compare.curves("loss")[0].getOriginalDataset()[0]
    assert x[0] == 0.0


def test_hover_reads_out_the_nearest_point(window, gui):
    gui.select(window, [0])
    window.compare.set_metrics(["loss"])
    gui.idle(window)
    plot = window.compare.plots["loss"]
    text = plot.show_nearest(QPointF(0.2, 0.95))
    assert "x = 0" in text and "loss = 1" in text


def test_live_append_appears_in_the_table_and_the_plot(window, gui, workspace, project):
    run = labdeck.start_run(project, name="live", record_provenance=False)
    for s in range(5):
        run.log({"loss": 2.0}, step=s)
    workspace.index()
    window.indexing.changed.emit()  # what the watcher says after it indexed something
    gui.loaded(window, 5)
    live_row = gui.texts(window).index("live")
    gui.select(window, [live_row, 0])
    window.compare.set_metrics(["loss"])
    gui.idle(window)
    selected = {r.id for r in window.selected_runs()}
    assert len(window.compare.curves("loss")[0].getOriginalDataset()[0]) == 5
    scroll = window.table.verticalScrollBar().value()
    plot = window.compare.plots["loss"]
    plot.getPlotItem().vb.setRange(
        xRange=(2, 4), yRange=(0, 3), padding=0
    )  # the user zoomed in
    for s in range(5, 12):
        run.log({"loss": 1.0}, step=s)
    workspace.index()
    window.indexing.changed.emit()
    gui.idle(window)
    gui.until(
        lambda: (
            max(len(c.getOriginalDataset()[0]) for c in window.compare.curves("loss"))
            == 12
        )
    )
    assert {r.id for r in window.selected_runs()} == selected
    assert window.table.verticalScrollBar().value() == scroll
    assert window.compare.plots["loss"] is plot
    x0, x1 = plot.getPlotItem().vb.viewRange()[0]
    assert (round(x0, 6), round(x1, 6)) == (2, 4)  # the live update kept the zoom
    status_column = 1
    assert window.model.data(window.model.index(live_row, status_column)) == "running"
    run.end()


def test_dropping_a_folder_adds_the_project(window, gui, tmp_path, workspace):
    other = tmp_path / "dropped"
    make_runs(other, 2, steps=3, prefix="dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(other))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    gui.until(lambda: str(other) in [p.path for p in workspace.projects()])
    gui.until(lambda: not window.indexing.busy)
    gui.loaded(window, 6)
    assert {"dropped-0", "dropped-1"} <= set(gui.texts(window))
    gui.until(lambda: str(other) in window.sidebar.paths())


def test_export_writes_png_svg_and_csv(window, gui, tmp_path):
    gui.select(window, [0, 1])
    window.compare.set_metrics(["loss", "acc"])
    gui.idle(window)
    png = window.compare.export(tmp_path / "plots.png")
    svg = window.compare.export(tmp_path / "plots.svg")
    (csv_path,) = window.compare.export(tmp_path / "data.csv")
    assert len(png) == 2 and all(p.stat().st_size > 1000 for p in png)
    assert png[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg[0].read_text()
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "run_id,run_name,metric,step,value,wall_time_ms"
    assert len(lines) == 1 + 2 * 2 * 30


def test_context_menu_copies_run_ids(window, gui):
    gui.select(window, [1])
    window.runs.copy_ids()
    gui.until(lambda: QGuiApplication.clipboard().text() == window.selected_runs()[0].id)


def test_settings_persist_across_a_restart(open_window, gui, workspace, project):
    make_runs(project, 3, steps=10)
    workspace.add_project(project)
    workspace.index()
    first = open_window(rows=3)
    first.runs.set_columns(["params.lr", "metrics.acc"])
    first.query.setText("params.idx < 2")
    first.run_query()
    first.compare.restore(
        {"metrics": ["acc"], "x": "wall time", "layout": "tabbed", "smoothing": 40}
    )
    first.centre.setSizes([500, 300])
    sizes = first.centre.sizes()
    gui.idle(first)
    first.close()
    second = open_window(rows=2)
    assert second.model.extra_columns == ["params.lr", "metrics.acc"]
    assert second.query.text() == "params.idx < 2"
    assert second.compare.x_axis.currentText() == "wall time"
    assert second.compare.layout_choice.currentText() == "tabbed"
    assert second.compare.smoothing.value() == 40
    assert second.centre.sizes() == sizes


def test_warnings_are_one_click_away(window, gui, workspace, project):
    (bad,) = make_runs(project / "more", 1, steps=2)
    (bad.dir / "labdeck-run.json").write_text("{oops")
    workspace.index()
    window.reload_projects()
    gui.until(lambda: window.warnings_button.text() == "1 warning")


def test_sidebar_scopes_the_table_to_a_project_or_an_experiment(
    open_window, gui, workspace, project, tmp_path
):
    with labdeck.start_run(
        project, name="a1", experiment="alpha", record_provenance=False
    ):
        pass
    with labdeck.start_run(
        project, name="b1", experiment="beta", record_provenance=False
    ):
        pass
    other = tmp_path / "other"
    make_runs(other, 2, steps=2, prefix="o")
    for folder in (project, other):
        workspace.add_project(folder)
    workspace.index()
    w = open_window(rows=4)
    tree = w.sidebar.projects
    gui.until(lambda: tree.topLevelItemCount() == 3)
    assert tree.topLevelItem(0).text(0) == "All projects  (4)"
    item = next(
        tree.topLevelItem(i)
        for i in range(3)
        if tree.topLevelItem(i).text(0).startswith("project")
    )
    assert [item.child(i).text(0) for i in range(item.childCount())] == [
        "alpha  (1)",
        "beta  (1)",
    ]
    tree.setCurrentItem(item.child(1))
    gui.loaded(w, 1)
    assert gui.texts(w) == ["b1"]
    tree.setCurrentItem(item)
    gui.loaded(w, 2)
    assert sorted(gui.texts(w)) == ["a1", "b1"]


def test_dark_and_light_themes_set_the_palette_and_plot_colours(qapp):
    import pyqtgraph as pg
    from labdeck.ui.theme import apply_theme, dark_palette

    before = qapp.palette()
    try:
        apply_theme(qapp, dark=True)
        assert qapp.palette().window().color() == dark_palette().window().color()
        assert pg.getConfigOption("foreground") == "#d0d0d0"
        apply_theme(qapp, dark=False)
        assert qapp.palette().window().color().lightness() > 128
        assert pg.getConfigOption("foreground") == "#303030"
    finally:
        qapp.setPalette(before)


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toLocalFile())


def test_open_folder_and_show_in_file_manager(window, gui):
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler(
        "file", catcher, "open"
    )  # instead of the real file manager
    try:
        gui.select(window, [0])
        run = window.selected_runs()[0]
        window.runs.open_folders(reveal=False)
        gui.until(lambda: len(catcher.urls) == 1)
        window.runs.open_folders(reveal=True)
        gui.until(lambda: len(catcher.urls) == 2)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    folder = f"{run.project}/{run.path}"
    assert catcher.urls == [folder, folder.rsplit("/", 1)[0]]


def test_query_bar_completes_param_metric_and_tag_names(window, gui):
    gui.idle(window)
    words = window.runs._completion.stringList()
    assert {"params.lr", "params.idx", "metrics.loss", "metrics.acc"} <= set(words)


def test_hide_from_index_removes_rows_and_keeps_files(window, gui, workspace):
    gui.idle(window)
    window.table.selectRow(0)
    hidden_name = gui.texts(window)[0]
    window.runs.hide_selected()
    gui.loaded(window, 3)
    assert hidden_name not in gui.texts(window)
    (hidden,) = [r for r in workspace.runs("", include_deleted=True) if r.hidden]
    assert hidden.name == hidden_name
    assert workspace.run(hidden.id).hidden  # still in the index, just hidden


def test_reproduce_button_shows_the_plan_in_the_jobs_tab(window, gui, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []

    def answer(box):  # the plan is shown modally; record it and decline to launch
        shown.append(box.text())
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "exec", answer)
    assert not window.details.reproduce_button.isEnabled()
    gui.select(window, [0])
    gui.until(lambda: window.details.reproduce_button.isEnabled())
    run = window.details.detail.run
    qtbot.mouseClick(window.details.reproduce_button, Qt.MouseButton.LeftButton)
    gui.until(lambda: bool(shown))
    assert window.tabs.currentWidget() is window.views["Jobs"]
    assert run.id in shown[0] or run.name in shown[0]


def test_first_start_trains_the_demo_without_blocking_the_window(open_window, gui, workspace):
    from labdeck.ui.app import _make_demo_in_background

    window = open_window(rows=0)
    _make_demo_in_background(window)
    assert window.isVisible() and not window.background.idle  # the training runs on a worker
    gui.until(lambda: len(workspace.projects()) == 1)
    gui.loaded(window, 6)
    assert sorted(gui.texts(window))[0].startswith("mlp-")


# For the tests that need a fresh interpreter: the app's event loop turned until a condition
# holds (the script defines ``app``), and the script run offscreen.
_UNTIL = """
import time


def until(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        app.processEvents()
        time.sleep(0.005)
"""


def _run_fresh(script: str, tmp_path) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LABDECK_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_window_shows_its_first_page_without_pyqtgraph_then_loads_it_off_the_gui_thread(tmp_path):
    """pyqtgraph costs ~0.4 s to import: the first page of runs must not wait for it, and the
    app loads it on a worker once that page is on screen (a fresh interpreter: here it is
    loaded already)."""
    import textwrap

    script = _UNTIL + textwrap.dedent(f"""
        import sys, time
        import labdeck
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication
        from labdeck.workspace import Workspace
        from labdeck.ui.app import preload_after_first_page
        from labdeck.ui.main_window import MainWindow

        project = {str(tmp_path / "project")!r}
        for i in range(3):
            with labdeck.start_run(project, name=f"r{{i}}", record_provenance=False) as run:
                run.log({{"loss": 1.0 / (i + 1)}}, step=0)
        app = QApplication(sys.argv)
        ws = Workspace({str(tmp_path / "index.sqlite")!r})
        ws.add_project(project)
        ws.index()
        window = MainWindow(ws, watch=False, settings=QSettings({str(tmp_path / "s.ini")!r}, QSettings.Format.IniFormat))
        window.show()

        until(lambda: window.model.rowCount() == 3 and window.model.is_loaded(0))
        assert "pyqtgraph" not in sys.modules, "the first page waited for pyqtgraph"
        preload_after_first_page(window)
        until(lambda: "labdeck.ui.metric_plot" in sys.modules and window.background.idle)
        window.runs.select_rows([0, 1])
        until(lambda: window.compare.plots and window.background.idle)
        print("charts:", len(window.compare.curves()))
        window.close()
        ws.close()
    """)
    assert "charts: 2" in _run_fresh(script, tmp_path)


def test_the_first_page_needs_no_sqlalchemy_and_indexing_starts_after_it_off_the_gui_thread(tmp_path):
    """Listing runs reads in plain SQL: the first page comes up before SQLAlchemy, the readers,
    pandas and NumPy are loaded (about 0.9 s of imports); once it is shown the watcher starts and the
    start-up pass runs in the indexer process, not the app's, and a run written then appears.
    Closing the window stops them. A fresh interpreter (here they are loaded already)."""
    import textwrap

    import labdeck
    from labdeck.workspace import Workspace

    project = tmp_path / "project"
    for i in range(3):
        with labdeck.start_run(project, name=f"r{i}", record_provenance=False) as run:
            run.log({"loss": 1.0 / (i + 1)}, step=0)
    ws = Workspace(tmp_path / "index.sqlite")
    ws.add_project(project)
    ws.index()
    ws.close()
    script = _UNTIL + textwrap.dedent(f"""
        import os, sys, threading, time
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication
        from labdeck.workspace import Workspace
        from labdeck.ui.app import index_after_first_listing
        from labdeck.ui.main_window import MainWindow

        app = QApplication(sys.argv)
        ws = Workspace({str(tmp_path / "index.sqlite")!r})
        window = MainWindow(ws, watch=True, settings=QSettings({str(tmp_path / "s.ini")!r}, QSettings.Format.IniFormat))
        index_after_first_listing(window)
        window.show()

        until(lambda: window.model.rowCount() == 3 and window.model.is_loaded(0))
        early = sorted(m for m in ("sqlalchemy", "pandas", "numpy") if m in sys.modules)
        assert not early, f"the first page waited for {{early}}"
        until(lambda: window.indexing.watching and not window.indexing.busy)
        indexer = window.indexing.indexer_pid
        assert indexer is not None and indexer != os.getpid()
        assert "labdeck.runs.indexer" not in sys.modules  # the pass ran in the indexer process
        import labdeck
        with labdeck.start_run({str(project)!r}, name="late", record_provenance=False) as run:
            run.log({{"loss": 0.1}}, step=0)
        until(lambda: window.model.rowCount() == 4)
        window.close()
        ws.close()
        left = [t.name for t in threading.enumerate() if t.name.startswith("labdeck-")]
        print("threads left:", left)
        try:
            os.kill(indexer, 0)
            print("indexer left running")
        except ProcessLookupError:
            print("indexer stopped")
    """)
    out = _run_fresh(script, tmp_path)
    assert "threads left: []" in out and "indexer stopped" in out


def test_an_indexer_that_dies_is_reported_and_the_next_pass_starts_another(window, gui, project, workspace):
    """The indexer process killed while it watches: the status line stops saying "watching",
    and a rescan starts a new indexer whose pass finds a run written meanwhile."""
    import os
    import signal

    from labdeck.ui import indexing

    window.indexing.start_watching()
    gui.until(lambda: window.indexing.watching and not window.indexing.busy)
    first = window.indexing.indexer_pid
    assert first is not None and first != os.getpid()
    assert window.state_label.text() == "watching"
    os.kill(first, signal.SIGKILL)
    gui.until(lambda: not window.indexing.watching)
    assert window.state_label.text() == "idle"  # lived under RESTART_AFTER_S: not restarted
    assert indexing.RESTART_AFTER_S > 0
    with labdeck.start_run(project, name="meanwhile", record_provenance=False) as run:
        run.log({"loss": 0.5}, step=0)
    results: list[object] = []
    window.indexing.pass_finished.connect(results.append)
    window.sidebar.rescan_requested.emit()
    gui.until(lambda: bool(results) and not window.indexing.busy)
    assert type(results[0]).__name__ == "IndexStats"
    assert window.indexing.indexer_pid not in (None, first)
    gui.loaded(window, 5)
    assert "meanwhile" in gui.texts(window)
