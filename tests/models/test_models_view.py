"""The Models tab, driven like a user would (offscreen), waiting on results, never sleeping."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from labdeck.models.publish import Publisher
from labdeck.ui.views import models as view_module
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui
WAIT_MS = 60_000  # a generous guard on a loaded machine, not a timing assertion


def _idle(view) -> bool:
    return not view.reads.busy and not view.actions.busy


def _state(view) -> str:
    item = view.table.item(0, 1)
    return item.text() if item else ""


def test_register_review_push_and_audit_from_the_view(model_run, qtbot, tmp_path):
    ws, _, _ = model_run
    Publisher(ws.db).add_registry("team", f"folder://{tmp_path / 'reg'}")
    view = view_module.create(ws)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.registries.count() == 1 and _idle(view), timeout=WAIT_MS)
    assert view.registries.currentText() == "team" and view.candidates.count() == 0
    qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.candidates.count() == 2 and _idle(view), timeout=WAIT_MS)

    index = next(i for i in range(view.candidates.count()) if "classifier" in view.candidates.itemText(i))
    view.candidates.setCurrentIndex(index)
    view.name_edit.setText("clf")
    qtbot.mouseClick(view.register_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.table.rowCount() == 1 and _idle(view), timeout=WAIT_MS)
    assert view.table.item(0, 0).text() == "clf:1" and _state(view) == "draft"

    view.table.selectRow(0)
    qtbot.mouseClick(view.action_buttons["approve"], Qt.MouseButton.LeftButton)  # not from draft
    qtbot.waitUntil(lambda: "refused: rule workflow" in view.status.text() and _idle(view), timeout=WAIT_MS)
    assert _state(view) == "draft"

    for action, state in (("submit", "in_review"), ("approve", "approved")):
        view.comment.setText(f"{action} from the view")
        qtbot.mouseClick(view.action_buttons[action], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda s=state: _state(view) == s and _idle(view), timeout=WAIT_MS)

    view.table.selectRow(0)
    qtbot.waitUntil(lambda: view.push_button.isEnabled() and _idle(view), timeout=WAIT_MS)
    qtbot.mouseClick(view.push_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _state(view) == "published" and _idle(view), timeout=WAIT_MS)
    assert view.table.item(0, 5).text() == "team:1"
    view.table.selectRow(0)
    qtbot.waitUntil(lambda: view.log.rowCount() == 4 and _idle(view), timeout=WAIT_MS)
    assert [view.log.item(r, 2).text() for r in range(4)] == ["register", "submit", "approve", "publish"]
    assert view.log.item(2, 6).text() == "approve from the view"
    assert "hash chain intact" in view.audit_label.text()
