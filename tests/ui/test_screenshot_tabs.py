"""`labdeck screenshot --tab`: every tab rendered offscreen from real data, to a PNG."""

from __future__ import annotations

import pytest
from tests_support import make_runs

pytest.importorskip("PySide6")
pytestmark = pytest.mark.gui


def _colours(image) -> int:
    """Distinct colours on a coarse grid: a blank or one-colour picture has one or two."""
    seen = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            seen.add(image.pixel(x, y))
    return len(seen)


@pytest.mark.parametrize("tab", ["runs", "datasets", "models", "jobs"])
def test_screenshot_of_each_tab(qapp, workspace, project, tmp_path, tab):
    from labdeck.cli import run_cli
    from PySide6.QtGui import QImage

    make_runs(project, 4, steps=20)
    out = tmp_path / f"{tab}.png"
    args = ["screenshot", str(out), "--index", str(workspace.index_path), "--project", str(project),
            "--tab", tab, "--size", "1200x700"]
    if tab == "runs":
        args += ["--metric", "loss", "--group-by", "params.idx"]
    assert run_cli(args) == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 700)
    assert _colours(image) > 5


def test_a_screenshot_of_a_metric_the_runs_do_not_log_says_what_they_log(qapp, workspace, project, tmp_path,
                                                                          capsys):
    from labdeck.cli import run_cli

    make_runs(project, 2, steps=5)
    out = tmp_path / "none.png"
    code = run_cli(["screenshot", str(out), "--index", str(workspace.index_path), "--project", str(project),
                    "--metric", "val_acc"])
    assert code == 2 and not out.exists()  # a user error, and no misleading picture
    err = capsys.readouterr().err
    assert "log no 'val_acc'" in err and "loss" in err


def test_the_compare_hint_says_why_nothing_is_plotted(open_window, gui, workspace, project):
    make_runs(project, 2, steps=5)
    workspace.add_project(project)
    workspace.index()
    w = open_window(rows=2)
    compare = w.compare
    assert "Select runs" in compare.hint.text()
    gui.select(w, [0, 1])
    gui.until(lambda: bool(compare.plots))  # nothing asked for yet: their first metric
    compare.set_metrics(["val_acc"])  # asked for, but not logged by these runs
    gui.until(lambda: not compare.plots)
    assert "log no val_acc" in compare.hint.text()


def test_the_compare_hint_says_when_a_ticked_metric_has_no_points(open_window, gui, workspace, project):
    import sqlite3

    make_runs(project, 2, steps=5)
    workspace.add_project(project)
    workspace.index()
    with sqlite3.connect(workspace.index_path) as conn:  # summaries kept, points gone (as a lost source's)
        conn.execute("DELETE FROM metric_chunks")
    w = open_window(rows=2)
    compare = w.compare
    compare.set_metrics(["loss"])
    gui.select(w, [0, 1])
    gui.until(lambda: "No points of loss" in compare.hint.text())
    assert not compare.plots and compare.shown_metrics() == ["loss"]
