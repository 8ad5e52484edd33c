"""The card editor, driven like a user would (offscreen): it writes what the CLI writes."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from cards.readback import pdf_text
from labdeck.cli import run_cli
from labdeck.ui.card_dialog import CardDialog
from labdeck.ui.views import models as models_view
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui
WAIT_MS = 60_000  # a generous guard on a loaded machine, not a timing assertion


def _cli_export(ws, ref, fmt, out) -> None:
    assert run_cli(["card", "--index", str(ws.index_path), "export", ref, "--format", fmt, "--out", str(out)]) == 0


def test_dialog_edits_sections_and_exports_the_same_files_as_the_cli(card_model, qtbot, tmp_path):
    ws, ref = card_model
    dialog = CardDialog(ws.cards, ref)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.worker.busy and "missing:" in dialog.status.text(), timeout=WAIT_MS)
    assert "Intended uses (missing)" in [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert "Missing: not written yet." in dialog.preview.toPlainText()

    dialog.editors["intended_use"].setPlainText("Separating the two moons.")
    dialog.editors["license"].setPlainText("mit")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.worker.busy and "saved 2 section(s)" in dialog.status.text(), timeout=WAIT_MS)
    assert "Separating the two moons." in dialog.preview.toPlainText()

    dialog.editors["contact"].setPlainText("ada@example.org")  # unsaved: Export saves it first
    for fmt in ("md", "html", "json", "pdf"):
        mine, theirs = tmp_path / f"dialog.{fmt}", tmp_path / f"cli.{fmt}"
        dialog.format.setCurrentText(fmt)
        dialog.path.setText(str(mine))
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda m=mine: not dialog.worker.busy and dialog.status.text() == f"wrote {m}",
                        timeout=WAIT_MS)
        _cli_export(ws, ref, fmt, theirs)
        if fmt == "pdf":  # a PDF carries its creation time: compare what it says
            assert pdf_text(mine) == pdf_text(theirs) and "ada@example.org" in pdf_text(mine)
        else:
            assert mine.read_bytes() == theirs.read_bytes()
    assert "ada@example.org" in (tmp_path / "dialog.md").read_text()


def test_models_view_opens_the_card_dialog(card_model, qtbot):
    ws, ref = card_model
    view = models_view.create(ws)
    qtbot.addWidget(view)
    view.show()  # a tab reads when it is shown
    qtbot.waitUntil(lambda: view.table.rowCount() == 1 and not view.reads.busy, timeout=WAIT_MS)
    assert not view.card_button.isEnabled()
    view.table.selectRow(0)
    qtbot.waitUntil(view.card_button.isEnabled, timeout=WAIT_MS)
    qtbot.mouseClick(view.card_button, Qt.MouseButton.LeftButton)
    dialog = view.card_dialog
    qtbot.waitUntil(lambda: not dialog.worker.busy and "missing:" in dialog.status.text(), timeout=WAIT_MS)
    assert dialog.ref == ref and dialog.isVisible()
    dialog.close()
