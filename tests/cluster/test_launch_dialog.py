"""The launch dialog offers local and every configured cluster, and launches on the one chosen."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.gui


def test_launch_dialog_offers_the_configured_executors(qtbot):
    from labdeck.launch import executors_config
    from labdeck.ui.views.jobs import LaunchDialog

    executors_config.add("gpu", "slurm", {"partition": "a100"})
    executors_config.add("team", "ray", {"address": "http://head:8265"})
    dialog = LaunchDialog()
    qtbot.addWidget(dialog)
    offered = [dialog.executor.itemText(i) for i in range(dialog.executor.count())]
    assert offered == ["local", "gpu", "team"]
    dialog.command.setText("python train.py")
    assert dialog.request().executor == "local"
    assert not dialog.cpus.isEnabled() and not dialog.mem.isEnabled()  # a local job is not limited
    dialog.executor.setCurrentText("team")
    assert dialog.request().executor == "team"
    assert (dialog.request().cpus, dialog.request().mem_gb) == (None, None)  # the engine's defaults
    assert dialog.cpus.isEnabled() and dialog.mem.isEnabled()
    dialog.cpus.setValue(4)
    dialog.mem.setValue(16)
    assert (dialog.request().cpus, dialog.request().mem_gb) == (4, 16.0)
