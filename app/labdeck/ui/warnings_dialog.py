"""A list of indexing warnings, one click from the status bar."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from labdeck.db.entities import WarningInfo


class WarningsDialog(QDialog):
    def __init__(self, warnings: list[WarningInfo], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Indexing warnings ({len(warnings)})")
        self.resize(900, 400)
        table = QTableWidget(len(warnings), 4)
        table.setObjectName("warningsTable")
        table.setHorizontalHeaderLabels(["Code", "Run", "Path", "Message"])
        for row, w in enumerate(warnings):
            for col, text in enumerate((w.code, w.run_id or "", w.path, w.message)):
                table.setItem(row, col, QTableWidgetItem(text))
        table.horizontalHeader().setStretchLastSection(True)
        table.resizeColumnsToContents()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.table = table
