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
    view.show()  # a tab reads when it is shown
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
    assert view.table.item(0, view.table.columnCount() - 1).text() == "team:1"
    view.table.selectRow(0)
    qtbot.waitUntil(lambda: view.log.rowCount() == 4 and _idle(view), timeout=WAIT_MS)
    assert [view.log.item(r, 2).text() for r in range(4)] == ["register", "submit", "approve", "publish"]
    assert view.log.item(2, 6).text() == "approve from the view"
    assert "hash chain intact" in view.audit_label.text()


def _header(view) -> list[str]:
    return [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]


def test_versions_show_metrics_and_dates_and_the_log_follows_the_selected_version(model_run, approved, svc, qtbot):
    from labdeck.ui.numbers import format_number

    ws, run_id, _ = model_run
    second = svc.register(run_id, "artifacts/models/classifier", "classifier")  # classifier:2, a draft
    view = view_module.create(ws)
    qtbot.addWidget(view)
    view.show()  # a tab reads when it is shown
    qtbot.waitUntil(lambda: view.table.rowCount() == 2 and _idle(view), timeout=WAIT_MS)
    header = _header(view)
    assert header[:7] == ["Model", "State", "Format", "Run", "Registered by", "Created", "Approved"]
    assert header[-1] == "Pushed to"
    rows = {view.table.item(r, 0).text(): r for r in range(2)}
    first = svc.version(approved)
    shown = header[7:-1]
    assert shown  # the run logged metrics: they show
    assert shown == sorted(m for m, x in first.metrics.items() if x is not None)[:3]
    for c, name in enumerate(shown, start=7):
        assert view.table.item(rows[approved], c).text() == format_number(first.metrics[name])
    created, approved_at = header.index("Created"), header.index("Approved")
    assert view.table.item(rows[approved], created).text()[:2] == "20"
    assert view.table.item(rows[approved], approved_at).text()[:2] == "20"
    assert view.table.item(rows[second.ref], approved_at).text() == ""

    view.table.selectRow(rows[second.ref])
    qtbot.waitUntil(lambda: view.log.rowCount() == 1 and _idle(view), timeout=WAIT_MS)
    assert view.log.item(0, 1).text() == "2" and view.log.item(0, 2).text() == "register"
    view.table.selectRow(rows[approved])
    qtbot.waitUntil(lambda: view.log.rowCount() == 3 and _idle(view), timeout=WAIT_MS)
    assert {view.log.item(r, 1).text() for r in range(3)} == {"1"}
