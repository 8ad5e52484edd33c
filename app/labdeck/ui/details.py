"""The run details pane: params, tags, metric summaries, provenance and warnings."""

from __future__ import annotations

import html
import json
import math

from PySide6.QtWidgets import QTextBrowser

from labdeck.db.entities import RunInfo


def _num(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.6g}"


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th align='left'>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table cellspacing='0' cellpadding='3'><tr>{head}</tr>{body}</table>"


def run_html(run: RunInfo, provenance: dict | None = None) -> str:
    parts = [f"<h3>{html.escape(run.name)}</h3>"]
    facts = [
        ("id", run.id),
        ("source", f"{run.format} run {run.source_id}"),
        ("status", run.status + (" (deleted)" if run.deleted else "")),
        ("experiment", run.experiment or "-"),
        ("folder", f"{run.project}/{run.path}" if run.path else run.project),
    ]
    if run.parent:
        facts.append(("parent", run.parent))
    parts.append(_table(facts, ("", "")))
    if run.warnings:
        items = "".join(f"<li><b>{html.escape(w.code)}</b>: {html.escape(w.message)}</li>" for w in run.warnings)
        parts.append(f"<h4 style='color:#c0392b'>Warnings</h4><ul>{items}</ul>")
    if run.metrics:
        rows = [(k, _num(m.last), _num(m.min), _num(m.max), str(m.count), str(m.last_step)) for k, m in run.metrics.items()]
        parts.append("<h4>Metrics</h4>" + _table(rows, ("metric", "last", "min", "max", "points", "last step")))
    if run.params:
        parts.append("<h4>Params</h4>" + _table([(k, v[:300]) for k, v in run.params.items()], ("param", "value")))
    if run.tags:
        parts.append("<h4>Tags</h4>" + _table([(k, v[:300]) for k, v in run.tags.items()], ("tag", "value")))
    if provenance:
        parts.append("<h4>Provenance</h4>" + _provenance_html(provenance))
    return "".join(parts)


def _provenance_html(p: dict) -> str:
    rows = []
    if p.get("argv"):
        rows.append(("command", " ".join(p["argv"])))
    if p.get("cwd"):
        rows.append(("directory", p["cwd"]))
    git = p.get("git") or {}
    if git:
        rows.append(("commit", f"{git.get('commit', '')[:12]} on {git.get('branch', '?')}" + (" (dirty)" if git.get("dirty") else "")))
    py = p.get("python") or {}
    if py:
        rows.append(("python", f"{py.get('version', '')} ({py.get('executable', '')})"))
    host = p.get("host") or {}
    if host:
        rows.append(("host", f"{host.get('hostname', '')}, {host.get('os', '')}, {host.get('cpus', '?')} CPUs"))
    for gpu in p.get("gpus") or []:
        rows.append(("GPU", f"{gpu.get('name')} {gpu.get('uuid')} driver {gpu.get('driver')}"))
    packages = p.get("packages") or {}
    if packages:
        rows.append(("packages", f"{len(packages)} installed"))
    return _table(rows, ("", ""))


class RunDetails(QTextBrowser):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(False)
        self.show_run(None)

    def show_run(self, run: RunInfo | None, provenance_json: str | None = None) -> None:
        if run is None:
            self.setHtml("<p style='color:gray'>Select a run to see its details.</p>")
            return
        provenance = None
        if provenance_json:
            try:
                provenance = json.loads(provenance_json)
            except ValueError:
                provenance = None
        self.setHtml(run_html(run, provenance))
