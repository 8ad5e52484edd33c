"""Run details, params vs metrics, parallel coordinates and diff, on real indexed runs."""

from __future__ import annotations

import labdeck
import pytest
from labdeck.ui.diff_view import diff_rows
from labdeck.run_reads import RunBundle
from tests_support import make_runs

pytestmark = pytest.mark.gui


def test_details_show_provenance_artifacts_and_the_log_tail(
    open_window, gui, workspace, project, tmp_path
):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"x" * 2048)
    with labdeck.start_run(project, name="with-files", params={"lr": 0.1}) as run:
        run.log({"loss": 0.5}, step=0)
        run.log_artifact(weights)
        (run.dir / "stdout.log").write_text(
            "".join(f"epoch {i} done\n" for i in range(50))
        )
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=1)
    gui.select(w, [0])
    gui.until(lambda: w.details.detail is not None)
    text = w.details.toPlainText()
    assert (
        "with-files" in text
        and "Provenance" in text
        and "command" in text
        and "packages" in text
    )
    assert w.details.artifacts.count() == 1
    item = w.details.artifacts.item(0)
    assert item.text().startswith("weights.bin") and "2.0 KiB" in item.text()
    assert w.details.log.toPlainText().rstrip().endswith("epoch 49 done")
    assert w.details.tabText(2) == "Log (stdout.log)"


def test_scatter_plots_a_param_against_a_metric(window, gui):
    gui.select(window, [0, 1, 2, 3])
    window.analysis.setCurrentWidget(window.analysis.scatter)  # drawn when shown
    gui.until(lambda: len(window.analysis.scatter.runs) == 4)
    scatter = window.analysis.scatter
    scatter.x_field.setCurrentText("params.idx")
    scatter.y_field.setCurrentText("metrics.acc")
    assert scatter.point_count() == 4
    xs = sorted(p.pos().x() for p in scatter.points.points())
    assert xs == [0.0, 1.0, 2.0, 3.0]


def _scatter_of_three_runs(open_window, gui, workspace, project):
    """The window on ``project``'s three runs, all selected, their scatter shown."""
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=3)
    gui.select(w, [0, 1, 2])
    w.analysis.setCurrentWidget(w.analysis.scatter)
    gui.until(lambda: len(w.analysis.scatter.runs) == 3)
    return w


def test_scatter_opens_on_the_param_the_runs_differ_in(open_window, gui, workspace, project):
    """A sweep's runs share most settings: the scatter opens on one they differ in, not on
    the first param by name (all runs at epochs=300 stacked on one x)."""
    for lr in (0.1, 0.01, 0.001):
        with labdeck.start_run(project, params={"epochs": 300, "lr": lr, "a_seed": 1},
                               record_provenance=False) as run:
            run.log({"acc": 1 - lr, "loss": lr}, step=0)
    w = _scatter_of_three_runs(open_window, gui, workspace, project)
    scatter = w.analysis.scatter
    assert (scatter.x_field.currentText(), scatter.y_field.currentText()) == ("params.lr", "metrics.acc")
    # Two decades of learning rates: a log axis, where they stand a decade apart.
    assert [round(p.pos().x(), 9) for p in sorted(scatter.points.points(), key=lambda p: p.pos().x())] == [-3, -2, -1]
    assert scatter.plot.getAxis("bottom").logMode and not scatter.plot.getAxis("left").logMode
    assert "log scale" in scatter.plot.getAxis("bottom").labelText
    tip = scatter._tip(-2.0, 0.99, next(r for r in scatter.runs if r.params["lr"] == "0.01"))
    assert "x = 0.01" in tip and "y = 0.99" in tip
    scatter.x_field.setCurrentText("params.epochs")  # one value: linear
    assert not scatter.plot.getAxis("bottom").logMode


def test_parallel_coordinates_brushing_filters_runs(window, gui):
    gui.select(window, [0, 1, 2, 3])
    parallel = window.analysis.parallel
    gui.idle(window)
    assert parallel.runs == []  # hidden behind the Compare tab: not drawn for this selection
    window.analysis.setCurrentWidget(parallel)  # drawn when shown
    gui.until(lambda: len(parallel.runs) == 4)
    parallel.metric.setCurrentText("acc")
    assert parallel.fields == ["params.idx", "params.lr", "metrics.acc"]
    assert len(parallel.brushed_ids()) == 4
    parallel.set_brush(0, 0.5, 1.05)  # the upper half of params.idx: runs 2 and 3
    kept = {r.name for r in parallel.runs if r.id in parallel.brushed_ids()}
    assert kept == {"run-2", "run-3"}
    assert parallel.count.text() == "2 of 4 runs match"
    parallel.select_runs.emit(parallel.brushed_ids())  # "Select matching runs"
    gui.idle(window)
    gui.until(lambda: {r.name for r in window.selected_runs()} == {"run-2", "run-3"})


def test_diff_highlights_what_differs(window, gui):
    gui.select(window, [0, 1])
    diff = window.analysis.diff
    gui.until(lambda: len(diff.bundle.runs) == 2)
    keys = {(r.section, r.key) for r in diff.rows if r.differs}
    assert ("Params", "lr") in keys and ("Params", "idx") in keys
    assert ("Run", "status") not in keys
    shown = [diff.table.item(r, 0).text() for r in range(diff.table.rowCount())]
    assert "lr" in shown and "status" not in shown  # only differences by default
    diff.only_differences.setChecked(False)
    shown = [diff.table.item(r, 0).text() for r in range(diff.table.rowCount())]
    assert "status" in shown


def test_diff_lists_packages_added_removed_and_changed(window):
    runs = tuple(
        window.selected_runs() or [window.model.run_at(0), window.model.run_at(1)]
    )
    a, b = runs[0], runs[1]
    bundle = RunBundle(
        (a, b),
        {
            a.id: {
                "packages": {"numpy": "2.0", "torch": "2.3", "old": "1"},
                "git": {"commit": "a", "dirty": False},
            },
            b.id: {
                "packages": {"numpy": "2.1", "torch": "2.3", "new": "5"},
                "git": {"commit": "b", "dirty": True},
            },
        },
    )
    packages = {
        r.key: r.values for r in diff_rows(bundle) if r.section.startswith("Packages")
    }
    assert packages == {"new": ("—", "5"), "numpy": ("2.0", "2.1"), "old": ("1", "—")}
    commit = next(r for r in diff_rows(bundle) if r.key == "commit")
    assert commit.differs and "dirty" in commit.values[1]


def test_many_downsampled_curves_paint_repeatedly(open_window, gui, workspace, project):
    """The PySide6 6.12 / Python 3.11 crash hazard: paint many downsampled curves, often."""
    make_runs(project, 40, steps=2000)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=40)
    gui.select(w, list(range(40)))
    w.compare.set_metrics(["loss", "acc"])
    gui.idle(w)
    assert len(w.compare.curves("loss")) == 40
    plot = w.compare.plots["loss"]
    for i in range(15):
        plot.getPlotItem().vb.setXRange(i * 50, i * 50 + 800, padding=0)
        image = w.grab()
        assert not image.isNull()
    x, _y = w.compare.curves("loss")[0].getData()
    assert len(x) <= 2000  # drawn through downsampling / clip to view


def test_screenshot_verb_saves_a_png(qapp, workspace, project, tmp_path, monkeypatch):
    from labdeck.cli import run_cli

    make_runs(project, 3, steps=20)
    out = tmp_path / "shot.png"
    code = run_cli(
        [
            "screenshot",
            str(out),
            "--index",
            str(workspace.index_path),
            "--project",
            str(project),
            "--select",
            "params.idx >= 1",
            "--metric",
            "loss",
            "--size",
            "900x600",
        ]
    )
    assert code == 0
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


def test_code_diff_between_two_runs_commits(
    open_window, gui, workspace, project, tmp_path, monkeypatch
):
    import subprocess

    repo = tmp_path / "code"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (repo / "train.py").write_text("lr = 0.1\n")
    git("add", ".")
    git("commit", "-qm", "first")
    monkeypatch.chdir(repo)  # the SDK records the git state of the working directory
    with labdeck.start_run(project, name="before") as run:
        run.log({"loss": 1.0}, step=0)
    (repo / "train.py").write_text("lr = 0.01\n")
    git("commit", "-qam", "second")
    with labdeck.start_run(project, name="after") as run:
        run.log({"loss": 0.5}, step=0)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=2)
    gui.select(w, [0, 1])
    diff = w.analysis.diff
    gui.until(lambda: diff.code_button.isEnabled())
    assert any(r.key == "commit" and r.differs for r in diff.rows)
    diff.code_button.click()
    gui.until(lambda: "lr = 0.01" in diff.code.toPlainText())
    assert (
        "-lr = 0.1" in diff.code.toPlainText() or "+lr = 0.1" in diff.code.toPlainText()
    )


def test_a_log_axis_of_small_values_reads_the_values_not_thousandths(open_window, gui, workspace, project):
    """Learning rates from 0.001 to 0.1 on a log axis: ticks "0.001 … 0.1", no "(x0.001)"
    scaling them into "1 … 100" (found looking at a Lightning sweep's scatter)."""
    for lr in (0.001, 0.01, 0.1):
        with labdeck.start_run(project, params={"lr": lr}, record_provenance=False) as run:
            run.log({"val_loss": lr * 10}, step=0)
    w = _scatter_of_three_runs(open_window, gui, workspace, project)
    axis = w.analysis.scatter.plot.getAxis("bottom")
    gui.idle(w)
    assert axis.logMode and axis.autoSIPrefixScale == 1.0
    assert "x0.001" not in axis.labelString() and "(log scale)" in axis.labelString()
    assert axis.tickStrings([-3.0, -2.0, -1.0], axis.autoSIPrefixScale, 1.0) == ["0.001", "0.01", "0.1"]
