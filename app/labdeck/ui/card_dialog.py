"""The model card editor: the human sections of one version, a live preview, and Export.

Reading and saving the index and rendering md/html/json run on a worker thread; only the
PDF is printed on the GUI thread (Qt paints it). Export writes exactly what
``labdeck card export`` writes: both go through ``CardService.export``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from labdeck.cards.sections import HUMAN_SECTIONS
from labdeck.cards.service import FORMATS, CardService, default_filename
from labdeck.ui import card_pdf
from labdeck.ui.ops import OpRunner


class CardDialog(QDialog):
    def __init__(self, cards: CardService, ref: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ref = ref
        self.cards = cards
        self.worker = OpRunner(self, "card")
        self.setWindowTitle(f"Model card: {ref}")
        self.resize(1100, 760)
        self._saved: dict[str, str] = {}
        self._build()
        self.reload()

    def _run(self, fn: Callable[[], Any], callback: Callable[[Any], None]) -> bool:
        """``fn()`` off the GUI thread (one at a time), ``callback(result or exception)`` back on it."""
        return self.worker.run(lambda _task: fn(), callback)

    # Construction ----------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.tabs = QTabWidget(objectName="sections")
        self.editors: dict[str, QPlainTextEdit] = {}
        for s in HUMAN_SECTIONS:
            editor = QPlainTextEdit(objectName=f"section_{s.key}")
            editor.setPlaceholderText(f"{s.prompt}\n\nLeft empty, the card marks this section as missing.")
            editor.textChanged.connect(self._update_tabs)
            self.tabs.addTab(editor, s.title)
            self.editors[s.key] = editor
        split.addWidget(self.tabs)
        self.preview = QTextBrowser(objectName="preview")
        self.preview.setOpenLinks(False)
        split.addWidget(self.preview)
        split.setSizes([450, 650])
        layout.addWidget(split, 1)

        row = QHBoxLayout()
        self.save_button = QPushButton("Save sections", objectName="save")
        self.save_button.clicked.connect(lambda: self.save())  # not save(checked)
        row.addWidget(self.save_button)
        row.addStretch(1)
        row.addWidget(QLabel("Export as"))
        self.format = QComboBox(objectName="format")
        self.format.addItems(list(FORMATS))
        self.format.currentTextChanged.connect(self._suggest_path)
        row.addWidget(self.format)
        self.path = QLineEdit(objectName="path")
        self.path.setMinimumWidth(320)
        row.addWidget(self.path, 1)
        browse = QPushButton("Browse…", objectName="browse")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        self.export_button = QPushButton("Export", objectName="export")
        self.export_button.clicked.connect(self.export)
        row.addWidget(self.export_button)
        layout.addLayout(row)
        self.status = QLabel("", objectName="status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self._suggest_path(self.format.currentText())

    def _suggest_path(self, fmt: str) -> None:
        current = Path(self.path.text()) if self.path.text() else Path.home() / default_filename(self.ref, fmt)
        self.path.setText(str(current.with_name(default_filename(self.ref, fmt))))

    def _browse(self) -> None:
        fmt = self.format.currentText()
        chosen, _ = QFileDialog.getSaveFileName(self, "Export model card", self.path.text(), f"{fmt} (*.{fmt})")
        if chosen:
            self.path.setText(chosen)

    def _texts(self) -> dict[str, str]:
        return {k: e.toPlainText() for k, e in self.editors.items()}

    def dirty(self) -> bool:
        return any(self._saved.get(k, "") != v for k, v in self._texts().items())

    def _update_tabs(self) -> None:
        for i, s in enumerate(HUMAN_SECTIONS):
            text = self.editors[s.key].toPlainText().strip()
            mark = "" if text else " (missing)"
            edited = "*" if self._saved.get(s.key, "") != self.editors[s.key].toPlainText() else ""
            self.tabs.setTabText(i, f"{s.title}{mark}{edited}")

    # Loading and saving ------------------------------------------------------------

    def reload(self) -> None:
        def load() -> tuple[dict[str, str], str]:
            sections = {k: s.text for k, s in self.cards.sections(self.ref).items()}
            return sections, self.cards.render(self.ref, "html")

        self.status.setText("loading…")
        self._run(load, self._loaded)

    def _loaded(self, result: Any) -> None:
        if self._failed(result):
            return
        sections, page = result
        self._saved = dict(sections)
        for key, editor in self.editors.items():
            editor.setPlainText(sections.get(key, ""))
        self._update_tabs()
        self._show_preview(page)
        missing = [s.title for s in HUMAN_SECTIONS if not sections.get(s.key, "").strip()]
        self.status.setText(f"missing: {', '.join(missing)}" if missing else "every section is written")

    def _show_preview(self, page: str) -> None:
        self.preview.setDocument(card_pdf.document(page))

    def save(self, then: Callable[[], None] | None = None) -> None:
        texts = self._texts()

        def work() -> tuple[int, dict[str, str], str]:
            changed = self.cards.edit_many(self.ref, texts)
            sections = {k: s.text for k, s in self.cards.sections(self.ref).items()}
            return changed, sections, self.cards.render(self.ref, "html")

        def saved(result: Any) -> None:
            if self._failed(result):
                return
            changed, sections, page = result
            self._saved = dict(sections)
            self._update_tabs()
            self._show_preview(page)
            self.status.setText(f"saved {changed} section(s) of {self.ref}")
            if then is not None:
                then()

        if not self._run(work, saved):
            self.status.setText("busy: wait for the current operation to finish")

    # Export ----------------------------------------------------------------------------

    def export(self) -> None:
        """Save pending edits, then write the card in the chosen format to the chosen path."""
        if self.dirty():
            self.save(then=self.export)
            return
        fmt, target = self.format.currentText(), self.path.text().strip()
        if not target:
            self.status.setText("choose a file to export to")
            return
        if fmt == "pdf":  # rendered off the GUI thread, printed on it
            self.status.setText("printing the PDF…")
            self._run(lambda: self.cards.render(self.ref, "html"), lambda r: self._print(r, target))
            return
        self.status.setText(f"writing the {fmt} card…")
        if not self._run(lambda: self.cards.export(self.ref, fmt, target), self._exported):
            self.status.setText("busy: wait for the current operation to finish")

    def _print(self, result: Any, target: str) -> None:
        if self._failed(result):
            return
        try:
            out = self.cards.write_pdf(result, target, card_pdf.print_pdf)
        except Exception as exc:  # noqa: BLE001 - shown, not raised into Qt's event loop
            self._failed(exc)
            return
        self._exported(out)

    def _exported(self, result: Any) -> None:
        if not self._failed(result):
            self.last_export = Path(result)
            self.status.setText(f"wrote {result}")

    def _failed(self, result: Any) -> bool:
        if isinstance(result, Exception):
            self.status.setText(f"error: {result.args[0] if result.args else type(result).__name__}")
            return True
        return False


def open_card_dialog(cards: CardService, ref: str, parent: QWidget | None = None) -> CardDialog:
    dialog = CardDialog(cards, ref, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
