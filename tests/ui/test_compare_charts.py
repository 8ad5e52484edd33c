"""The compare charts on real indexed runs: independent ranges, x by another metric, legend
naming and placement, stable colours, crosshair, outlier-robust y, grouping with bands."""

from __future__ import annotations

import labdeck
import numpy as np
import pytest
from labdeck.ui.curves import assign_colours, run_colour

pytestmark = pytest.mark.gui


def _log(project, name, *, experiment="", params=None, loss=None, per_epoch=None):
    with labdeck.start_run(
        project, name=name, experiment=experiment, params=params or {},
        record_provenance=False,
    ) as run:
        for step, value in enumerate(loss if loss is not None else []):
            run.log({"loss": float(value), "epoch": step / 20}, step=step)
        for epoch, value in enumerate(per_epoch if per_epoch is not None else []):
            run.log({"accuracy": float(value)}, step=epoch)
    return run


def _open(open_window, workspace, project, rows):
    workspace.add_project(project)
    workspace.index()
    return open_window(rows=rows)


def test_each_chart_ranges_over_its_own_data_unless_x_is_linked(
    open_window, gui, workspace, project
):
    # loss per step (100 points), accuracy per epoch (6 points at steps 0..5).
    _log(project, "a", loss=1 / np.arange(1, 101), per_epoch=np.linspace(0.5, 0.9, 6))
    w = _open(open_window, workspace, project, 1)
    gui.select(w, [0])
    w.compare.set_metrics(["loss", "accuracy"])
    gui.idle(w)

    def x_range(key):
        return w.compare.plots[key].getPlotItem().vb.viewRange()[0]

    # (pyqtgraph applies auto-range on its next update: wait for it, then check)
    gui.until(lambda: x_range("loss")[1] >= 99)
    gui.until(lambda: x_range("accuracy")[1] >= 5)
    assert x_range("loss")[0] <= 0  # every step visible
    assert x_range("accuracy")[0] <= 0 and x_range("accuracy")[1] < 10  # not squeezed
    w.compare.link_x.setChecked(True)
    gui.until(
        lambda: w.compare.plots["accuracy"].getPlotItem().vb.viewRange()[0][1] >= 99
    )
    w.compare.link_x.setChecked(False)
    gui.until(
        lambda: w.compare.plots["accuracy"].getPlotItem().vb.viewRange()[0][1] < 10
    )


def test_a_comparison_opens_on_the_validation_loss(open_window, gui, workspace, project):
    """Runs are compared on their losses: the first chart is the held-out loss, not the key
    that sorts first (the demo opened on grad_norm)."""
    for lr in (0.1, 0.01):
        with labdeck.start_run(project, params={"lr": lr}, record_provenance=False) as run:
            for step in range(5):
                run.log({"grad_norm": 1.0, "train/loss": lr / (step + 1), "val/loss": lr * 2 / (step + 1)}, step=step)
    w = _open(open_window, workspace, project, 2)
    gui.select(w, [0, 1])
    gui.until(lambda: list(w.compare.plots) == ["val/loss"])
    gui.idle(w)
    assert len(w.compare.plots["val/loss"].curves()) == 2


def test_x_axis_by_another_logged_metric(open_window, gui, workspace, project):
    _log(project, "a", loss=1 / np.arange(1, 41))
    w = _open(open_window, workspace, project, 1)
    gui.select(w, [0])
    w.compare.set_metrics(["loss"])
    gui.idle(w)
    assert "metric: epoch" in [
        w.compare.x_axis.itemText(i) for i in range(w.compare.x_axis.count())
    ]
    w.compare.x_axis.setCurrentText("metric: epoch")
    gui.idle(w)
    x, y = w.compare.curves("loss")[0].getOriginalDataset()
    assert np.allclose(x, np.arange(40) / 20) and np.allclose(y, 1 / np.arange(1, 41))
    assert w.compare.plots["loss"].getPlotItem().getAxis("bottom").labelText == "epoch"


def test_legend_sits_beside_the_plot_and_tells_same_named_runs_apart(
    open_window, gui, workspace, project
):
    _log(project, "version_0", experiment="mnist", loss=[1, 0.5])
    _log(project, "version_0", experiment="cifar", loss=[1, 0.4])
    twin_a = _log(project, "version_0", experiment="cifar", loss=[1, 0.3])
    w = _open(open_window, workspace, project, 3)
    gui.select(w, [0, 1, 2])
    w.compare.set_metrics(["loss"])
    gui.idle(w)
    plot = w.compare.plots["loss"]
    names = plot.legend_names()
    assert len(set(names)) == 3
    assert "mnist/version_0" in names
    cifar = sorted(n for n in names if n.startswith("cifar/version_0 · "))
    assert len(cifar) == 2  # same experiment too: labdeck's id tells them apart
    ids = {r.id for r in w.compare.runs}
    assert any(n.endswith(rid[:8]) for n in cifar for rid in ids)
    assert twin_a.id  # (the native id differs from labdeck's; the suffix is labdeck's)
    # Outside the plot area: the legend and the view box do not overlap.
    vb_rect = plot.getPlotItem().vb.sceneBoundingRect()
    legend_rect = plot.legend.sceneBoundingRect()
    assert legend_rect.width() > 0 and legend_rect.left() >= vb_rect.right() - 1
    # Compact at the top, each swatch level with its label (not spread over the plot's height).
    assert legend_rect.height() < vb_rect.height() / 2
    for sample, label in plot.legend.items:
        s_rect, l_rect = sample.sceneBoundingRect(), label.sceneBoundingRect()
        assert abs(s_rect.center().y() - l_rect.center().y()) < l_rect.height() / 2 + 1
    w.compare.show_legend.setChecked(False)
    assert not plot.legend.isVisible() and not plot.legend_visible()
    w.compare.show_legend.setChecked(True)
    assert plot.legend.isVisible()


def test_run_colours_are_a_hash_of_the_id_and_the_same_on_every_chart(
    open_window, gui, workspace, project
):
    assert run_colour("mlflow:abc/123") == run_colour("mlflow:abc/123")
    assert len({run_colour(f"run-{i}") for i in range(50)}) > 5
    _log(project, "a", loss=[1, 0.5], per_epoch=[0.1, 0.2])
    _log(project, "b", loss=[1, 0.4], per_epoch=[0.1, 0.3])
    w = _open(open_window, workspace, project, 2)
    gui.select(w, [0, 1])
    w.compare.set_metrics(["loss", "accuracy"])
    gui.idle(w)
    expected = assign_colours([r.id for r in w.compare.runs])
    for key in ("loss", "accuracy"):
        drawn = {
            line.key: curve.opts["pen"].color().name()
            for line, curve in zip(
                w.compare.plots[key].lines(), w.compare.curves(key)
            )
        }
        assert drawn == expected


def test_crosshair_reads_every_runs_value_at_the_hovered_x(
    open_window, gui, workspace, project
):
    _log(project, "a", loss=[4, 3, 2, 1])
    _log(project, "b", loss=[8, 6, 4, 2])
    w = _open(open_window, workspace, project, 2)
    gui.select(w, [0, 1])
    w.compare.set_metrics(["loss"])
    gui.idle(w)
    plot = w.compare.plots["loss"]
    values = {name: v for name, _c, v in plot.values_at(2.1)}
    assert values == {"a": 2.0, "b": 4.0}
    text = plot.show_crosshair(2.1)
    assert "a: 2" in text and "b: 4" in text
    assert plot.crosshair.isVisible() and plot.crosshair.value() == pytest.approx(2.1)


def test_ignoring_outliers_scales_y_to_the_bulk_of_the_points(
    open_window, gui, workspace, project
):
    loss = np.full(200, 1.0) + np.linspace(0, 0.1, 200)
    loss[0] = 1000.0  # one spike
    _log(project, "a", loss=loss)
    w = _open(open_window, workspace, project, 1)
    gui.select(w, [0])
    w.compare.set_metrics(["loss"])
    gui.idle(w)
    vb = w.compare.plots["loss"].getPlotItem().vb
    gui.until(lambda: vb.viewRange()[1][1] >= 1000)
    w.compare.robust_y.setChecked(True)
    low, high = vb.viewRange()[1]
    assert 0.9 < low < 1.0 and 1.1 < high < 1.2
    w.compare.robust_y.setChecked(False)
    gui.until(lambda: vb.viewRange()[1][1] >= 1000)


def test_grouping_by_a_param_draws_mean_and_band_computed_on_an_aligned_grid(
    open_window, gui, workspace, project
):
    rng = np.random.default_rng(3)
    made = {}
    for lr in ("0.1", "0.01"):
        for seed, length in enumerate((30, 40, 50)):
            loss = 1 / np.arange(1, length + 1) + rng.normal(0, 0.05, length)
            run = _log(project, f"lr{lr}-s{seed}", params={"lr": lr, "seed": seed}, loss=loss)
            made[run.name] = loss
    w = _open(open_window, workspace, project, 6)
    gui.select(w, list(range(6)))
    w.compare.set_metrics(["loss"])
    gui.idle(w)
    w.compare.set_group_by("params.lr")
    w.compare.band.setCurrentText("min–max")
    plot = w.compare.plots["loss"]
    lines = {line.name: line for line in plot.lines()}
    assert set(lines) == {"lr=0.01 (n=3)", "lr=0.1 (n=3)"}
    assert len(plot.bands()) == 2
    grid = np.arange(50, dtype=float)  # the union of the runs' steps
    for lr in ("0.1", "0.01"):
        line = lines[f"lr={lr} (n=3)"]
        stack = np.full((3, 50), np.nan)
        for seed, length in enumerate((30, 40, 50)):
            stack[seed, :length] = made[f"lr{lr}-s{seed}"]
        assert np.array_equal(line.x, grid)
        assert np.allclose(line.y, np.nanmean(stack, axis=0))
        assert np.allclose(line.band[0], np.nanmin(stack, axis=0))
        assert np.allclose(line.band[1], np.nanmax(stack, axis=0))
    w.compare.band.setCurrentText("± std")
    w.compare.centre.setCurrentText("median")
    line = {line.name: line for line in plot.lines()}["lr=0.1 (n=3)"]
    stack = np.full((3, 50), np.nan)
    for seed, length in enumerate((30, 40, 50)):
        stack[seed, :length] = made[f"lr0.1-s{seed}"]
    mean, std = np.nanmean(stack, axis=0), np.nanstd(stack, axis=0)
    assert np.allclose(line.y, np.nanmedian(stack, axis=0))
    assert np.allclose(line.band[0], mean - std) and np.allclose(line.band[1], mean + std)


def test_the_grid_is_drawn_beneath_the_curves(qtbot):
    """The grid is opaque (translucent lines cost a third of a pan frame) and under the
    curves: where a grid line crosses a curve, the curve's own colour shows, undimmed."""
    from PySide6.QtGui import QColor

    from labdeck.ui.metric_plot import MetricPlot
    from labdeck.ui.plotting import pg

    plot = MetricPlot("loss", legend=False)
    qtbot.addWidget(plot)
    plot.resize(420, 320)
    plot.show()
    red = QColor(255, 0, 0)
    plot.plot([0.0, 10.0], [0.47, 0.47], pen=pg.mkPen(red, width=1))
    plot.setXRange(0, 10, padding=0)
    plot.setYRange(0, 1, padding=0)
    image = plot.grab().toImage()
    view = plot.mapFromScene(plot.getPlotItem().vb.sceneBoundingRect()).boundingRect().adjusted(2, 2, -2, -2)

    def colour(x, y):
        return image.pixelColor(x, y).getRgb()[:3]

    def reds(y):
        return sum(colour(x, y) == (255, 0, 0) for x in range(view.left(), view.right()))

    row = max(range(view.top(), view.bottom()), key=reds)
    assert reds(row) > view.width() // 2, "the curve is drawn"
    background = colour(view.left() + 1, view.top() + 5)
    away = view.top() + view.height() // 4  # a row well away from the curve
    grid_columns = [x for x in range(view.left(), view.right()) if colour(x, away) != background]
    assert len(grid_columns) >= 3, "vertical grid lines are drawn"
    assert {colour(x, row) for x in grid_columns} == {(255, 0, 0)}


def test_a_log_axis_labels_its_values_without_running_them_together(qtbot):
    """Log axes (a chart's log y, a scatter's swept learning rate) label the decades, and 2
    and 5 times them over a short span, in plain numbers; the minor ticks between stay bare
    (pyqtgraph labelled every one of 0.05 0.06 0.07 0.08 0.09 side by side)."""
    import math

    from labdeck.ui.grid_axis import GridAxis

    axis = GridAxis("bottom")
    axis.setLogMode(True)
    minor = [math.log10(m * 0.01) for m in range(2, 10)] + [math.log10(m * 0.1) for m in range(2, 10)]
    short = axis.tickStrings(minor, 1.0, None)
    assert [s for s in short if s] == ["0.02", "0.05", "0.2", "0.5"]
    assert axis.tickStrings([-2.0, -1.0, 0.0, 1.0], 1.0, 1.0) == ["0.01", "0.1", "1", "10"]
    wide = [math.log10(m * 10.0 ** e) for e in range(-3, 2) for m in range(1, 10)]
    assert [s for s in axis.tickStrings(wide, 1.0, None) if s] == ["0.001", "0.01", "0.1", "1", "10"]
