"""The Jobs tab, offscreen: launches off the GUI thread, lists, shows logs, cancels; GPU panel."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from labdeck.launch.submit import LaunchRequest
from labdeck.ui import ops

pytestmark = pytest.mark.gui


def test_jobs_view_launch_logs_and_cpu_only_panel(qtbot, workspace, repo, monkeypatch):
    monkeypatch.setenv("LABDECK_GPU_INVENTORY", "none")
    from labdeck.ui.views import jobs as view_module

    view = view_module.create(workspace)
    qtbot.addWidget(view)
    view.show()  # the tab polls its jobs while it is on screen
    qtbot.waitUntil(lambda: "CPU only" in view.gpu_panel.label.text(), timeout=20_000)
    assert view.gpu_panel.plot is None  # no GPU: no chart made (nor pyqtgraph loaded for it)
    view.start_launch(LaunchRequest(command=("python", "train.py"), project=str(repo), seed=1))

    def row() -> list[str]:
        if view.table.rowCount() != 1:
            return []
        return [view.table.item(0, c).text() if view.table.item(0, c) else "" for c in range(view.table.columnCount())]

    ended = ("succeeded", "failed", "cancelled")
    try:
        qtbot.waitUntil(lambda: len(row()) > 1 and row()[1] in ended, timeout=120_000)
    finally:
        from labdeck.launch import control

        jobs = control.jobs(workspace)
        print("jobs:", [(j.id, j.status, j.message) for j in jobs], "row:", row())
    assert row()[1] == "succeeded", row()
    view.table.selectRow(0)
    qtbot.waitUntil(lambda: "training starts" in view.logs.toPlainText(), timeout=20_000)
    view.timer.stop()
    qtbot.waitUntil(lambda: not ops.running(), timeout=60_000)


def test_gpu_panel_plots_fake_gpus(qtbot, fake_gpus):
    fake_gpus([{"uuid": "GPU-1", "name": "Fake", "memory_total_mib": 1000, "memory_used_mib": 250,
                "utilization_pct": 40}])
    from labdeck.launch.gpus import default_inventory
    from labdeck.ui.views.jobs import GpuPanel

    panel = GpuPanel()
    qtbot.addWidget(panel)
    snap = default_inventory().snapshot()
    panel.update_snapshot(snap)
    panel.update_snapshot(snap)
    assert not panel.plot.isHidden() and "1 GPU" in panel.label.text()
    _, _, util, mem = panel._series["GPU-1"]
    assert list(util.getData()[1]) == [40, 40] and list(mem.getData()[1]) == [25.0, 25.0]


def test_jobs_table_columns_project_run_link_duration_and_elided_command(
        qtbot, workspace, repo, monkeypatch):
    monkeypatch.setenv("LABDECK_GPU_INVENTORY", "none")
    from labdeck.ui.views import jobs as view_module
    from PySide6.QtCore import Qt

    view = view_module.create(workspace)
    qtbot.addWidget(view)
    view.resize(1200, 600)
    view.show()
    long_arg = "--" + "x" * 300
    view.start_launch(LaunchRequest(command=("python", "train.py", long_arg), project=str(repo), seed=1))
    qtbot.waitUntil(lambda: view.table.rowCount() == 1 and view.table.item(0, 1).text() in
                    ("succeeded", "failed"), timeout=60_000)
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers[:9] == ["Job", "Status", "Project", "Run", "GPUs", "Created", "Duration", "Verdict",
                           "Command"]
    cells = {h: view.table.item(0, c).text() for c, h in enumerate(headers)}
    assert cells["Project"] == repo.name and cells["GPUs"] == "cpu"
    assert cells["Run"] and cells["Duration"].endswith(("s", "min")), cells  # the Message column says why
    command = view.table.item(0, view_module.COMMAND_COLUMN)
    assert command.toolTip().endswith(long_arg)  # the full text, one hover away
    assert view.table.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert view.table.columnWidth(view_module.COMMAND_COLUMN) <= view_module.COMMAND_MAX_PX
    assert not view.table.wordWrap()
    asked = []
    view.run_requested.connect(asked.append)
    view.table.cellDoubleClicked.emit(0, view_module.RUN_COLUMN)
    assert asked == [cells["Run"]]
    assert view.timer.isActive()
    view.hide()  # another tab, or the window closed: no more polling
    assert not view.timer.isActive()
    qtbot.waitUntil(lambda: not ops.running(), timeout=60_000)
