"""Plain-text renderings of a diff and a validation report, shared by the CLI and the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labdeck.datasets.diff import DatasetDiff
    from labdeck.datasets.rules import Validation


def size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _v(x) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def diff_text(d: DatasetDiff) -> str:
    head = (
        f"{d.dataset} {d.a} → {d.b}: {len(d.added)} added, {len(d.removed)} removed, "
        f"{len(d.changed)} changed, {d.unchanged} unchanged "
        f"({size_text(d.bytes[0])} → {size_text(d.bytes[1])})"
    )
    lines = [head]
    for sign, paths in (("+", d.added), ("-", d.removed), ("~", d.changed)):
        lines += [f"  {sign} {p}" for p in paths]
    for rel, t in d.tables.items():
        if t.error is not None:
            lines.append(f"{rel}: {t.error}")
            continue
        lines.append(f"{rel}: rows {t.rows[0]} → {t.rows[1]} ({t.rows_change:+d})")
        lines += [f"  + column {c} ({ty})" for c, ty in t.added.items()]
        lines += [f"  - column {c} ({ty})" for c, ty in t.removed.items()]
        lines += [f"  ~ column {c}: {ta} → {tb}" for c, (ta, tb) in t.type_changed.items()]
        for c, stats in t.columns.items():
            lines.append(f"  {c}: " + ", ".join(f"{k} {_v(va)} → {_v(vb)}" for k, (va, vb) in stats.items()))
    return "\n".join(lines)


def validation_text(report: Validation) -> str:
    name, version = report.dataset, report.version
    if not report.has_rules:
        return f"{name} has no rules (labdeck dataset rules {name} --set RULES.json)"
    if report.ok:
        return f"{name} version {version}: passes every rule"
    lines = [f"{name} version {version}: {len(report.problems)} problem(s)"]
    for p in report.problems:
        lines.append(f"  [{p.rule}] {p.file + ': ' if p.file else ''}{p.message}")
    return "\n".join(lines)
