"""The Datasets tab, driven through its real widgets (offscreen): drop, preview, diff, validation."""

from __future__ import annotations

import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from labdeck.ui.views import datasets as view_module

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot, workspace):
    v = view_module.create(workspace)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitUntil(lambda: not v.jobs.busy)
    yield v
    v.jobs.shutdown()


def _drop(view, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    # As a real drag does: the view must accept the drag before Qt delivers the drop.
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, event)


def _add_by_drop(view, qtbot, path, name=None, message="") -> str:
    view.add_dialog = None
    _drop(view, path)
    qtbot.waitUntil(lambda: view.add_dialog is not None and view.add_dialog.isVisible())
    dialog = view.add_dialog
    suggested = dialog.name.currentText()
    if name is not None:
        dialog.name.setCurrentText(name)
    dialog.message.setText(message)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: view._add_job is None and not view.jobs.busy, timeout=10_000)
    return suggested


def _version_items(view):
    out = {}
    for i in range(view.tree.topLevelItemCount()):
        top = view.tree.topLevelItem(i)
        out[top.text(0)] = [top.child(j) for j in range(top.childCount())]
    return out


def test_dropping_a_folder_adds_a_version_and_shows_it(view, qtbot, tmp_path, ds):
    root = tmp_path / "flowers"
    root.mkdir()
    pd.DataFrame({"petal": [1.0, 2.0, 4.0], "kind": ["a", "b", "a"]}).to_csv(root / "t.csv", index=False)
    img = QImage(40, 30, QImage.Format.Format_RGB32)
    img.fill(QColor("red"))
    assert img.save(str(root / "rose.png"))

    suggested = _add_by_drop(view, qtbot, root, message="from a drop")
    assert suggested == "flowers"  # a new dataset is named after the folder
    assert "flowers version 1: 2 file(s)" in view.status.text()
    items = _version_items(view)
    assert [c.text(0) for c in items["flowers"]] == ["version 1"]
    assert items["flowers"][0].text(5) == "from a drop"
    assert [v.version for v in ds.versions("flowers")] == [1]

    # Selecting the version lists its files and shows the image as a thumbnail.
    view.tree.setCurrentItem(items["flowers"][0])
    qtbot.waitUntil(lambda: view.files.topLevelItemCount() == 2 and view.thumbs.count() == 1)
    assert view.thumbs.item(0).text() == "rose.png"
    # Selecting the CSV previews its rows and per-column statistics.
    csv_item = next(view.files.topLevelItem(i) for i in range(2) if view.files.topLevelItem(i).text(0) == "t.csv")
    view.files.setCurrentItem(csv_item)
    qtbot.waitUntil(lambda: view.stats.topLevelItemCount() == 2)
    assert view.preview_model.rowCount() == 3 and "3 rows, 2 columns" in view.preview_label.text()
    petal = view.stats.topLevelItem(0)
    assert [petal.text(c) for c in range(7)] == ["petal", "float", "0", "3", "1", "4", "2.333"]
    # Its histogram is drawn (pyqtgraph bars), with NumPy's counts on the same values.
    import numpy as np
    import pyqtgraph as pg

    from labdeck.datasets.tabular import HIST_BINS

    plot = view.stats.itemWidget(petal, 7)
    bars = [i for i in plot.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    assert len(bars) == 1
    counts, edges = np.histogram([1.0, 2.0, 4.0], bins=HIST_BINS)
    assert list(bars[0].opts["height"]) == counts.tolist()
    assert np.allclose(bars[0].opts["x0"], edges[:-1])
    assert view.stats.itemWidget(view.stats.topLevelItem(1), 7) is None  # text column: no histogram

    # A second drop of the same folder offers the existing dataset; changed content is version 2.
    pd.DataFrame({"petal": [1.0, 2.0], "kind": ["a", "c"]}).to_csv(root / "t.csv", index=False)
    assert _add_by_drop(view, qtbot, root) == "flowers"
    qtbot.waitUntil(lambda: len(_version_items(view).get("flowers", [])) == 2)
    v2, v1 = _version_items(view)["flowers"]
    v2.setSelected(True)
    v1.setSelected(True)
    view.compare_selected()
    qtbot.waitUntil(lambda: "rows 3 → 2" in view.diff.toPlainText())
    assert "~ t.csv" in view.diff.toPlainText()


def test_drop_of_identical_content_and_validation_report(view, qtbot, tmp_path, ds):
    root = tmp_path / "d"
    root.mkdir()
    pd.DataFrame({"age": [10, 200]}).to_csv(root / "a.csv", index=False)
    ds.add("ages", root)
    ds.set_rules("ages", {"columns": {"age": {"max": 120}}})
    view.refresh()
    qtbot.waitUntil(lambda: "ages" in _version_items(view))
    assert _add_by_drop(view, qtbot, root) == "ages"  # matched by its source folder
    assert "identical to version 1; no new version" in view.status.text()
    view.tree.setCurrentItem(_version_items(view)["ages"][0])
    view.validate_selected()
    qtbot.waitUntil(lambda: "problem" in view.validation.toPlainText())
    assert "1 value(s) above 120 (largest 200)" in view.validation.toPlainText()


DATA_DVC = """outs:
- md5: 1293f5319653b23ae00b1451def71785.dir
  size: 6
  nfiles: 2
  hash: md5
  path: data
"""
DVC_LOCK = """schema: '2.0'
stages:
  prep:
    cmd: cp one.csv out.csv
    deps:
    - path: one.csv
      hash: md5
      md5: 1b26352878b4ebb7a0cdc8ef486faf5a
      size: 7
    outs:
    - path: out.csv
      hash: md5
      md5: 1b26352878b4ebb7a0cdc8ef486faf5a
      size: 7
"""


def test_dvc_tracked_data_is_listed_read_only(qtbot, workspace, project, h):
    # Files exactly as `dvc add data` and `dvc repro` (DVC 3.67) wrote them.
    h.write(project / "data.dvc", DATA_DVC)
    h.write(project / "dvc.lock", DVC_LOCK)
    h.write(project / "out.csv", "single\n")
    before = h.snapshot(project)
    workspace.add_project(project)
    v = view_module.create(workspace)
    qtbot.addWidget(v)
    v.show()  # a tab reads when it is shown
    qtbot.waitUntil(lambda: "DVC-tracked (read-only)" in _version_items(v), timeout=10_000)
    rows = {c.text(0): c.text(5) for c in _version_items(v)["DVC-tracked (read-only)"]}
    assert rows["data"] == "md5 1293f5319653b23ae00b1451def71785.dir · data.dvc · not present"
    assert rows["out.csv"] == "md5 1b26352878b4ebb7a0cdc8ef486faf5a · dvc.lock stage prep"
    assert h.snapshot(project) == before  # nothing written into the project
    v.jobs.shutdown()


def test_rules_verify_and_checkout_from_the_view(view, qtbot, tmp_path, ds, h):
    root = tmp_path / "d"
    h.write(root / "a.csv", "age\n10\n200\n")
    h.write(root / "b.bin", b"\x00\x01")
    ds.add("ages", root, message="m")
    view.refresh()
    qtbot.waitUntil(lambda: "ages" in _version_items(view))
    view.tree.setCurrentItem(_version_items(view)["ages"][0])

    view.edit_rules()
    qtbot.waitUntil(lambda: view.rules_dialog is not None and view.rules_dialog.isVisible())
    dialog = view.rules_dialog
    dialog.text.setPlainText('{"columns": {"age": {"type": "integer"}}}')
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and "'integer' is not one of" in dialog.error.text()  # kept open, nothing saved
    dialog.text.setPlainText('{"columns": {"age": {"max": 120}}}')
    dialog.strict.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: "above 120" in view.validation.toPlainText())
    assert ds.rules("ages") == ({"columns": {"age": {"max": 120}}}, True)
    assert "refuses" in view.validation.toPlainText()

    view.verify_selected()
    qtbot.waitUntil(lambda: "every file is present" in view.validation.toPlainText())

    view.checkout_to("ages", 1, str(tmp_path / "out"))
    qtbot.waitUntil(lambda: view.status.text().startswith("Checked out 2 file(s)"))
    assert h.snapshot(tmp_path / "out") == h.snapshot(root)
    view.checkout_to("ages", 1, str(tmp_path / "out"))  # again: refuses to overwrite, says so
    qtbot.waitUntil(lambda: view.status.text().startswith("Checkout failed: refusing to overwrite"))


def test_results_queued_before_shutdown_go_nowhere(qtbot):
    # A finished job's result waits in the event queue; once the view shut its jobs down (it
    # is closing, or gone), delivering it would call into a deleted view and crash.
    from labdeck.ui.ops import OpGroup

    jobs = OpGroup(None, "test")
    called = []
    jobs.start(lambda _task: 1, called.append)
    jobs.shutdown()  # waits for the thread: its result is queued now
    QApplication.processEvents()
    assert called == [] and not jobs.busy


def test_lineage_names_are_shown_in_full(view, qtbot):
    from types import SimpleNamespace

    long_name = "sweep-lr-0.0003-optimizer-adamw-seed-1234/version_12"
    use = SimpleNamespace(run_id="0123456789abcdef", run_name=long_name, dataset="flowers", version=3,
                          context="training")
    view._show_version("flowers", 3, ([], [use]))
    item = view.lineage.topLevelItem(0)
    assert item.text(1) == long_name and item.toolTip(1) == long_name
    needed = view.lineage.fontMetrics().horizontalAdvance(long_name)
    assert view.lineage.columnWidth(1) >= needed  # not cut at the default 100 px beside empty space
