"""The runs table on real indexed runs: groups that fold, nested runs under their parent,
selection kept in view, numbers that never wrap, columns remembered per project."""

from __future__ import annotations

import labdeck
import pytest
from labdeck.ui.numbers import format_number
from PySide6.QtCore import Qt
from tests_support import make_runs

pytestmark = pytest.mark.gui


def test_grouping_the_table_by_a_param_folds_runs_under_group_rows(
    open_window, gui, workspace, project
):
    for i in range(6):
        with labdeck.start_run(
            project, name=f"r{i}", params={"opt": "adam" if i % 2 else "sgd"},
            record_provenance=False,
        ) as run:
            run.log({"loss": float(i), "acc": 10.0 * i}, step=0)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=6)
    w.runs.set_columns(["metrics.loss"])
    assert w.table is w.runs.flat_view  # a flat list: the table view
    flat_row_height = w.table.rowHeight(0)
    w.runs.select_rows([0, 3])
    gui.idle(w)
    picked = sorted(r.name for r in w.runs.selected_runs())
    w.runs.set_group_by("params.opt")
    gui.until(lambda: w.model.rowCount() == 2)
    gui.idle(w)
    model, table = w.model, w.table  # the tree view: the runs have groups now
    assert table is w.runs.tree_view
    assert sorted(r.name for r in w.runs.selected_runs()) == picked  # grouping keeps the selection
    assert table.rowHeight(model.index(0, 0)) == flat_row_height  # rows do not jump
    labels = sorted(model.data(model.index(r, 0)) for r in range(2))
    assert labels == ["opt = adam  (3 runs)", "opt = sgd  (3 runs)"]
    adam_row = next(r for r in range(2) if "adam" in model.data(model.index(r, 0)))
    adam = model.index(adam_row, 0)
    assert model.rowCount(adam) == 3 and table.isExpanded(adam)
    children = sorted(model.data(model.index(r, 0, adam)) for r in range(3))
    assert children == ["r1", "r3", "r5"]
    # The group row shows the mean of its runs' metric, read with the groups (1, 3, 5: 3) ...
    loss_col = model.columnCount() - 1
    gui.until(lambda: model.data(model.index(adam_row, loss_col)) == "3")
    # ... and of a metric column added later, read then (10, 30, 50: 30).
    w.runs.set_columns(["metrics.loss", "metrics.acc"])
    acc_col = model.columnCount() - 1
    gui.until(lambda: model.data(model.index(adam_row, acc_col)) == "30")
    assert model.data(model.index(adam_row, acc_col - 1)) == "3"
    table.collapse(adam)
    assert not table.isExpanded(adam)
    table.expand(adam)
    # Selecting a group row selects its runs (and the charts group the same way).
    w.runs.select_rows([adam_row])
    gui.idle(w)
    assert sorted(r.name for r in w.compare.runs) == ["r1", "r3", "r5"]
    assert w.compare.grouped_by() == "params.opt"
    w.runs.set_group_by("")
    gui.until(lambda: w.model.rowCount() == 6)
    # A new grouping reuses the listing shown, but never one a live refresh is replacing:
    # a run indexed meanwhile is grouped too.
    with labdeck.start_run(project, name="r6", params={"opt": "lion"}, record_provenance=False) as run:
        run.log({"loss": 6.0, "acc": 60.0}, step=0)
    workspace.index()
    w.runs.run_query(keep_selection=True)  # the live refresh a change of runs makes: in flight ...
    w.runs.set_group_by("params.opt")  # ... when the user groups
    gui.until(lambda: w.model.rowCount() == 3 and w.background.idle)
    gui.idle(w)
    assert sorted(w.model.data(w.model.index(r, 0)) for r in range(3))[1] == "opt = lion  (1 run)"


def test_nested_runs_sit_folded_under_their_parent(open_window, gui, workspace, project):
    with labdeck.start_run(project, name="sweep", record_provenance=False) as parent:
        parent.log({"loss": 1.0}, step=0)
    for i in range(3):
        with labdeck.start_run(
            project, name=f"trial-{i}", parent=parent.id, record_provenance=False
        ) as child:
            child.log({"loss": 0.5 + i}, step=0)
    with labdeck.start_run(project, name="lonely", record_provenance=False) as run:
        run.log({"loss": 2.0}, step=0)
    workspace.add_project(project)
    workspace.index()
    w = open_window()
    gui.until(lambda: w.model.rowCount() == 2)
    gui.loaded(w, 2)
    model = w.model
    names = {model.data(model.index(r, 0)): r for r in range(2)}
    assert set(names) == {"sweep", "lonely"}
    sweep = model.index(names["sweep"], 0)
    assert model.rowCount(sweep) == 3
    assert not w.table.isExpanded(sweep)  # folded by default
    assert w.runs.count_label.text() == "5 runs, 3 folded under their parent run"
    gui.until(lambda: model.data(model.index(0, 0, sweep)) != "…")
    assert sorted(model.data(model.index(r, 0, sweep)) for r in range(3)) == [
        "trial-0", "trial-1", "trial-2",
    ]
    # Selecting a nested run (from a plot, by id) unfolds its parent.
    trial = next(r for r in workspace.runs() if r.name == "trial-1")
    w._select_run_ids([trial.id])
    gui.idle(w)
    assert w.table.isExpanded(sweep)
    assert [r.name for r in w.selected_runs()] == ["trial-1"]


def test_a_selection_is_scrolled_into_view(open_window, gui, workspace, project):
    make_runs(project, 120, steps=2)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=120)
    w.resize(1300, 500)
    gui.idle(w)
    last = w.model.rowCount() - 1
    w.runs.select_rows([last])
    gui.idle(w)
    index = w.model.index(last, 0)
    rect = w.table.visualRect(index)
    assert rect.isValid() and w.table.viewport().rect().contains(rect.center())


def test_numbers_keep_a_fixed_significant_width_that_never_wraps(window, gui):
    assert format_number(3368260000.0) == "3.368e9"
    assert format_number(1 / 30) == "0.033333"
    assert format_number(-1.2345e-5) == "-1.234e-5"
    assert format_number(float("nan")) == "NaN"
    assert max(len(format_number(x)) for x in (1e300, -1e-300, 123456789.0)) <= 9
    window.runs.set_columns(["metrics.loss"])
    gui.loaded(window, 4)
    col = window.model.columnCount() - 1
    tip = window.model.data(window.model.index(0, col), Qt.ItemDataRole.ToolTipRole)
    assert tip == repr(1 / 30)  # the exact value, one hover away
    gui.select(window, [0])
    gui.until(lambda: "Metrics" in window.details.overview.toHtml())
    # Qt keeps a no-wrap cell as preformatted text: the number is one unbreakable token.
    assert f">{format_number(1 / 30, 6)}</pre>" in window.details.overview.toHtml()


def test_columns_are_remembered_per_project(
    open_window, gui, workspace, project, tmp_path
):
    other = tmp_path / "other"
    other.mkdir()
    make_runs(project, 2, steps=3)
    make_runs(other, 2, steps=3, prefix="o")
    for folder in (project, other):
        workspace.add_project(folder)
    workspace.index()
    w = open_window(rows=4)
    first, second = (p.path for p in workspace.projects())
    w.runs.set_scope(first)
    gui.idle(w)
    w.runs.set_columns(["metrics.loss", "params.lr"])
    w.runs.set_scope(second)
    gui.idle(w)
    w.runs.set_columns(["metrics.acc"])
    w.runs.set_scope(first)
    gui.idle(w)
    assert w.model.extra_columns == ["metrics.loss", "params.lr"]
    w.runs.set_scope(second)
    gui.idle(w)
    assert w.model.extra_columns == ["metrics.acc"]
    w.close()
    again = open_window()
    again.runs.set_scope(first)
    gui.idle(again)
    assert again.model.extra_columns == ["metrics.loss", "params.lr"]


def test_the_first_page_of_runs_comes_with_the_listing(open_window, gui, workspace, project):
    """A query reads its first rows' runs with the listing: the table shows them without a
    second read (one read of runs per query, not two)."""
    for i in range(5):
        with labdeck.start_run(project, name=f"r{i}", record_provenance=False) as run:
            run.log({"loss": float(i)}, step=0)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=5)
    reads: list[int] = []
    original = w.store.runs_keyed
    w.store.runs_keyed = lambda pks: reads.append(len(pks)) or original(pks)
    w.query.setText("metrics.loss < 3")
    w.run_query()
    gui.until(lambda: w.model.rowCount() == 3)
    assert all(w.model.is_loaded(row) for row in range(3))  # on screen with the rows themselves
    gui.idle(w)
    assert reads == [3]


def test_a_group_counts_and_averages_trainings_not_their_second_format_records(
    open_window, gui, workspace, tmp_path
):
    """Lightning's CSVLogger and TensorBoardLogger of one training (the real tools' files,
    tests/fixtures/recognisable) with a native run of the same batch size: the group holds
    three rows but two trainings, and its mean is over the two."""
    import shutil
    from pathlib import Path

    project = tmp_path / "project"
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "recognisable" / "lightning" / "finished"
    shutil.copytree(fixture, project)
    with labdeck.start_run(project, name="native", params={"batch_size": 32}, record_provenance=False) as run:
        run.log({"train_loss": 1.0}, step=0)
    workspace.add_project(project)
    workspace.index()
    runs = {r.name: r for r in workspace.runs()}
    csv, tb = runs["live/version_0"], runs["tb_logs/live/version_0"]
    assert tb.parent == csv.id and csv.params["batch_size"] == tb.params["batch_size"] == "32"
    w = open_window(rows=2)  # the TensorBoard twin sits under its CSV run
    w.runs.set_columns(["metrics.train_loss"])
    w.runs.set_group_by("params.batch_size")
    gui.until(lambda: w.model.rowCount() == 1)
    gui.idle(w)
    model = w.model
    assert model.data(model.index(0, 0)) == "batch_size = 32  (2 runs +1 twin)"
    assert "same training logged in another format" in model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    view = w.runs.tree_view  # the label is not cut off: its column was widened for it
    label = model.data(model.index(0, 0))
    assert view.horizontalHeader().sectionSize(0) > view.fontMetrics().horizontalAdvance(label) + view.indentation()
    assert model.rowCount(model.index(0, 0)) == 3  # every record stays reachable in its group
    loss_col = model.columnCount() - 1
    want = (csv.metrics["train_loss"].last + 1.0) / 2
    gui.until(lambda: model.data(model.index(0, loss_col), Qt.ItemDataRole.ToolTipRole) == f"mean of 2 runs: {want!r}")


def test_long_group_labels_widen_the_name_column_but_leave_the_table_room(open_window, gui, workspace, project):
    """A group label is shown whole where it fits; a very long one takes at most two fifths of
    the table's width, so the columns to its right (the chosen metrics) stay in view, and its
    tooltip still holds it whole."""
    from labdeck.ui.runs_panel import GROUP_LABEL_SHARE

    note = "augmentation=" + "randaugment-n2-m9+" * 12
    for i, text in enumerate(["short", note]):
        with labdeck.start_run(project, name=f"r{i}", params={"note": text}, record_provenance=False) as run:
            run.log({"loss": 1.0 / (i + 1)}, step=0)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=2)
    w.resize(900, 700)
    w.runs.set_columns(["metrics.loss"])
    w.runs.set_group_by("params.note")
    gui.until(lambda: w.model.rowCount() == 2)
    gui.idle(w)
    view = w.runs.tree_view
    width = view.horizontalHeader().sectionSize(0)
    assert width <= view.viewport().width() * GROUP_LABEL_SHARE + 1
    row = next(r for r in range(2) if "randaugment" in w.model.data(w.model.index(r, 0)))
    label = w.model.data(w.model.index(row, 0))
    assert width < view.fontMetrics().horizontalAdvance(label)  # elided, not given the whole table
    assert note in w.model.data(w.model.index(row, 0), Qt.ItemDataRole.ToolTipRole)  # whole in the tooltip


def test_loaded_runs_stay_bounded_and_a_refresh_reads_only_the_pages_asked_for(
    open_window, gui, workspace, project, monkeypatch
):
    """Scrolling through every page keeps at most MAX_LOADED runs loaded (the longest loaded
    go first and come back when shown again); a live refresh reads the pages the view asked
    for in this listing, not every page loaded for earlier listings."""
    from labdeck.ui import runs_model

    monkeypatch.setattr(runs_model, "PAGE", 5)  # 30 runs: six pages, at most two loaded
    monkeypatch.setattr(runs_model, "MAX_LOADED", 10)
    for i in range(30):
        with labdeck.start_run(project, name=f"r{i:02}", record_provenance=False) as run:
            run.log({"loss": float(i)}, step=0)
    workspace.add_project(project)
    workspace.index()
    w = open_window()
    model = w.model
    gui.until(lambda: model.rowCount() == 30)
    names = [r.name for r in workspace.runs(sort="name")]
    w.runs.sort_by("name")
    gui.until(lambda: [model.data(model.index(r, 0)) for r in range(1)] == [names[0]])
    seen = []
    for _ in range(2):  # every page, twice: the first ones are dropped and read again
        for row in range(30):
            gui.until(lambda row=row: model.run_at(row) is not None)
            seen.append(model.run_at(row).name)
            assert model.loaded <= 10
    assert seen == names + names
    reads: list[list[int]] = []
    original = w.store.runs_keyed
    w.store.runs_keyed = lambda pks: reads.append(list(pks)) or original(pks)
    gui.idle(w)
    model.refresh_rows()
    gui.idle(w)
    assert 0 < len(reads) <= 2 and all(len(p) == 5 for p in reads)
    assert model.loaded <= 10
    # Every selected run's id is copied, not only the loaded rows'.
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().setText("")
    w.runs.select_rows(list(range(30)))
    w.runs.copy_ids()
    ids = [r.id for r in workspace.runs(sort="name")]
    gui.until(lambda: QGuiApplication.clipboard().text() == "\n".join(ids))
