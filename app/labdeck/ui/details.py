"""The run details pane: overview (params, tags, metric summaries, provenance, warnings),
artifacts (opened with the system's default application) and the stdout/log tail.

It only shows a ``RunDetail`` read on a worker thread; it never reads the disk itself.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
)

from labdeck.db.entities import RunInfo
from labdeck.ui.numbers import format_number
from labdeck.run_reads import RunDetail


def _num(x: float) -> str:
    return format_number(x, 6)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    # Headers never break either ("points" read "poi / nts" in a narrow pane).
    head = "".join(f"<th align='left' style='white-space:nowrap'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(_cell(c) for c in r) + "</tr>"
        for r in rows
    )
    return f"<table cellspacing='0' cellpadding='3'><tr>{head}</tr>{body}</table>"


def _cell(text: str) -> str:
    # A short token (a number, an id) never breaks: "3.36826e9" stays on one line.
    style = " style='white-space:nowrap'" if len(text) < 32 and " " not in text else ""
    return f"<td{style}>{html.escape(text)}</td>"


def run_html(run: RunInfo, provenance: dict | None = None, folder: str = "") -> str:
    parts = [f"<h3>{html.escape(run.name)}</h3>"]
    facts = [
        ("id", run.id),
        ("source", f"{run.format} run {run.source_id}"),
        ("status", run.status + (" (deleted)" if run.deleted else "")),
        ("experiment", run.experiment or "-"),
        (
            "folder",
            folder or (f"{run.project}/{run.path}" if run.path else run.project),
        ),
    ]
    if run.parent:
        facts.append(("parent", run.parent))
    parts.append(_table(facts, ("", "")))
    if run.warnings:
        items = "".join(
            f"<li><b>{html.escape(w.code)}</b>: {html.escape(w.message)}</li>"
            for w in run.warnings
        )
        parts.append(f"<h4 style='color:#c0392b'>Warnings</h4><ul>{items}</ul>")
    if run.metrics:
        rows = [
            (k, _num(m.last), _num(m.min), _num(m.max), str(m.count), str(m.last_step))
            for k, m in run.metrics.items()
        ]
        parts.append(
            "<h4>Metrics</h4>"
            + _table(rows, ("metric", "last", "min", "max", "points", "step"))
        )
    if run.params:
        parts.append(
            "<h4>Params</h4>"
            + _table([(k, v[:300]) for k, v in run.params.items()], ("param", "value"))
        )
    if run.tags:
        parts.append(
            "<h4>Tags</h4>"
            + _table([(k, v[:300]) for k, v in run.tags.items()], ("tag", "value"))
        )
    if provenance:
        parts.append("<h4>Provenance</h4>" + provenance_html(provenance))
    return "".join(parts)


def provenance_rows(p: dict) -> list[tuple[str, str]]:
    rows = []
    if p.get("argv"):
        rows.append(("command", " ".join(str(a) for a in p["argv"])))
    if p.get("cwd"):
        rows.append(("directory", str(p["cwd"])))
    git = p.get("git") or {}
    if git:
        dirty = (
            f" (dirty: {git.get('changed_files', '?')} files changed)"
            if git.get("dirty")
            else " (clean)"
        )
        rows.append(
            (
                "commit",
                f"{str(git.get('commit', ''))[:12]} on {git.get('branch', '?')}{dirty}",
            )
        )
        if git.get("root"):
            rows.append(("repository", str(git["root"])))
    py = p.get("python") or {}
    if py:
        rows.append(("python", f"{py.get('version', '')} ({py.get('executable', '')})"))
    host = p.get("host") or {}
    if host:
        rows.append(
            (
                "host",
                f"{host.get('hostname', '')}, {host.get('os', '')}, {host.get('cpus', '?')} CPUs",
            )
        )
    for gpu in p.get("gpus") or []:
        rows.append(
            (
                "GPU",
                f"{gpu.get('name')} ({gpu.get('memory_mib', '?')} MiB), driver {gpu.get('driver')}",
            )
        )
    if p.get("cuda_visible_devices"):
        rows.append(("CUDA_VISIBLE_DEVICES", str(p["cuda_visible_devices"])))
    return rows


def provenance_html(p: dict) -> str:
    out = _table(provenance_rows(p), ("", ""))
    packages = p.get("packages") or {}
    if isinstance(packages, dict) and packages:
        items = ", ".join(
            f"{html.escape(k)}&nbsp;{html.escape(str(v))}" for k, v in packages.items()
        )
        out += f"<p><b>{len(packages)} packages</b>: <small>{items}</small></p>"
    return out


class RunDetails(QTabWidget):
    reproduce_requested = Signal(str)  # a run id: plan its reproduction (the Jobs tab does it)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        self.reproduce_button = QPushButton("Reproduce…")
        self.reproduce_button.setToolTip("Plan a reproduction of this run (shown before anything runs)")
        self.reproduce_button.clicked.connect(
            lambda: self.detail is not None and self.reproduce_requested.emit(self.detail.run.id)
        )
        self.setCornerWidget(self.reproduce_button, Qt.Corner.TopRightCorner)
        self.overview = QTextBrowser()
        self.overview.setOpenExternalLinks(False)
        self.artifacts = QListWidget()
        self.artifacts.setObjectName("artifacts")
        self.artifacts.itemActivated.connect(self._open_artifact)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.addTab(self.overview, "Overview")
        self.addTab(self.artifacts, "Artifacts")
        self.addTab(self.log, "Log")
        self.detail: RunDetail | None = None
        self.show_detail(None)

    def toPlainText(self) -> str:
        return self.overview.toPlainText()

    def show_message(self, text: str) -> None:
        self.detail = None
        self.overview.setHtml(f"<p style='color:gray'>{html.escape(text)}</p>")
        self.artifacts.clear()
        self.log.setPlainText("")
        self.setTabText(1, "Artifacts")
        self.setTabText(2, "Log")
        self.reproduce_button.setEnabled(False)

    def show_detail(self, detail: RunDetail | None) -> None:
        if detail is None:
            self.show_message("Select a run to see its details.")
            return
        self.detail = detail
        self.reproduce_button.setEnabled(True)
        self.overview.setHtml(run_html(detail.run, detail.provenance, detail.folder))
        self.artifacts.clear()
        for a in detail.artifacts:
            item = QListWidgetItem(f"{a.relative}    ({_size(a.size)})")
            item.setData(Qt.ItemDataRole.UserRole, a.path)
            item.setToolTip(
                f"{a.path}\nDouble-click to open with the default application"
            )
            self.artifacts.addItem(item)
        if not detail.artifacts:
            self.artifacts.addItem(
                QListWidgetItem("No artifacts recorded for this run.")
            )
        self.setTabText(1, f"Artifacts ({len(detail.artifacts)})")
        self.log.setPlainText(
            detail.log_tail
            if detail.log_name
            else "No stdout.log or output.log in the run folder."
        )
        self.log.moveCursor(self.log.textCursor().MoveOperation.End)
        self.setTabText(2, f"Log ({detail.log_name})" if detail.log_name else "Log")

    def _open_artifact(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))
