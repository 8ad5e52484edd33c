"""Two or more runs side by side: attributes, params, tags, final metrics, provenance and
packages (added / removed / changed), with the rows that differ highlighted; a code diff
between two runs' commits (``git diff`` on a worker thread) when both are in one repository.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labdeck.ui.ops import ReadChannels
from labdeck.ui.details import provenance_rows
from labdeck.run_reads import RunBundle, RunReads, git_diff

MAX_COLUMNS = 8
MISSING = "—"
DIFF_COLOUR = QColor(241, 196, 15, 70)


@dataclass(frozen=True)
class DiffRow:
    section: str
    key: str
    values: tuple[str, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def diff_rows(bundle: RunBundle) -> list[DiffRow]:
    runs = bundle.runs[:MAX_COLUMNS]
    rows: list[DiffRow] = []

    def add(section: str, key: str, values: list[str]) -> None:
        rows.append(DiffRow(section, key, tuple(values)))

    for key in ("status", "experiment", "format", "project"):
        add("Run", key, [str(getattr(r, key)) for r in runs])
    for section, attr in (("Params", "params"), ("Tags", "tags")):
        keys = sorted({k for r in runs for k in getattr(r, attr)})
        for key in keys:
            add(section, key, [getattr(r, attr).get(key, MISSING) for r in runs])
    for key in sorted({k for r in runs for k in r.metrics}):
        add(
            "Metrics (last)",
            key,
            [_num(r.metrics[key].last) if key in r.metrics else MISSING for r in runs],
        )
    provenance = [bundle.provenance.get(r.id, {}) for r in runs]
    labelled = [dict(provenance_rows(p)) for p in provenance]
    for key in dict.fromkeys(k for rows_ in labelled for k in rows_):
        add("Provenance", key, [rows_.get(key, MISSING) for rows_ in labelled])
    packages = [
        p.get("packages") if isinstance(p.get("packages"), dict) else {}
        for p in provenance
    ]
    for name in sorted({n for pk in packages for n in pk}, key=str.lower):
        values = [str(pk.get(name, MISSING)) for pk in packages]
        if len(set(values)) > 1:  # the environment section lists only what changed
            add("Packages (added / removed / changed)", name, values)
    return rows


def _num(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.6g}"


def commits(bundle: RunBundle) -> list[tuple[str, str]]:
    """(repository root, commit) of each run that recorded one, in run order."""
    out = []
    for run in bundle.runs:
        git = bundle.provenance.get(run.id, {}).get("git") or {}
        if git.get("commit") and git.get("root"):
            out.append((str(git["root"]), str(git["commit"])))
    return out


class DiffView(QWidget):
    def __init__(
        self, store: RunReads, background: ReadChannels, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.background = background
        self.bundle = RunBundle(())
        self.rows: list[DiffRow] = []
        self.only_differences = QCheckBox("only differences")
        self.only_differences.setChecked(True)
        self.only_differences.toggled.connect(lambda _on: self._fill())
        self.code_button = QPushButton("Code diff")
        self.code_button.setEnabled(False)
        self.code_button.clicked.connect(self.show_code_diff)
        self.summary = QLabel()
        self.table = QTableWidget()
        self.table.setObjectName("diffTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.code = QPlainTextEdit()
        self.code.setReadOnly(True)
        self.code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.code.hide()
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.only_differences)
        bar.addWidget(self.code_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.code)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split, 1)

    def set_pks(self, pks: list[int]) -> None:
        chosen = pks[:MAX_COLUMNS]
        if len(chosen) < 2:
            self.background.invalidate("diff")
            self._show(RunBundle(()))
            return
        self.background.submit("diff", lambda: self.store.bundle(chosen), self._show)

    def _show(self, bundle: RunBundle) -> None:
        self.bundle = bundle
        self.rows = diff_rows(bundle) if len(bundle.runs) >= 2 else []
        found = commits(bundle)
        self.code_button.setEnabled(
            len(found) >= 2
            and found[0][0] == found[1][0]
            and found[0][1] != found[1][1]
        )
        self.code.hide()
        self._fill()

    def _fill(self) -> None:
        runs = self.bundle.runs[:MAX_COLUMNS]
        if len(runs) < 2:
            self.summary.setText("Select two or more runs to see what differs.")
            self.table.clear()
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        shown = [
            r for r in self.rows if r.differs or not self.only_differences.isChecked()
        ]
        differing = sum(r.differs for r in self.rows)
        self.summary.setText(
            f"{differing} of {len(self.rows)} fields differ across {len(runs)} runs"
        )
        self.table.clear()
        self.table.setColumnCount(1 + len(runs))
        self.table.setHorizontalHeaderLabels(["field"] + [r.name for r in runs])
        bold = QFont()
        bold.setBold(True)
        items: list[list[QTableWidgetItem]] = []
        section = None
        for row in shown:
            if row.section != section:
                section = row.section
                head = QTableWidgetItem(section)
                head.setFont(bold)
                items.append([head])
            cells = [QTableWidgetItem(row.key)] + [
                QTableWidgetItem(v) for v in row.values
            ]
            if row.differs:
                for cell in cells:
                    cell.setBackground(QBrush(DIFF_COLOUR))
            items.append(cells)
        self.table.setRowCount(len(items))
        for r, cells in enumerate(items):
            for c, cell in enumerate(cells):
                self.table.setItem(r, c, cell)
        self.table.resizeColumnsToContents()

    def show_code_diff(self) -> None:
        found = commits(self.bundle)
        if len(found) < 2:
            return
        (root, a), (_root, b) = found[0], found[1]
        self.code.setPlainText(f"git diff {a[:12]} {b[:12]} …")
        self.code.show()
        self.background.submit(
            "git-diff", lambda: git_diff(root, a, b), self.code.setPlainText
        )
