"""The stable JSON forms of the CLI's ``--json`` output (documented in the README)."""

from __future__ import annotations

import math
from typing import Any

from labdeck.db.entities import MetricStats, ProjectInfo, RunInfo, Series, WarningInfo


def number(x: float | None) -> float | str | None:
    """JSON has no NaN or infinity: they become the strings "NaN", "Infinity", "-Infinity"."""
    if x is None:
        return None
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def metric_json(m: MetricStats) -> dict[str, Any]:
    return {
        "last": number(m.last),
        "min": number(m.min),
        "max": number(m.max),
        "count": m.count,
        "last_step": m.last_step,
    }


def series_json(s: Series) -> list[list]:
    steps = s.steps.tolist()
    values = [number(v) for v in s.values.tolist()]
    walls = [None if math.isnan(w) else (int(w) if float(w).is_integer() else w) for w in s.walls.tolist()]
    return [list(p) for p in zip(steps, values, walls)]


def warning_json(w: WarningInfo) -> dict[str, Any]:
    return {
        "project": w.project,
        "run": w.run_id,
        "path": w.path,
        "code": w.code,
        "message": w.message,
        "transient": w.transient,
        "time": w.created_at,
    }


def run_json(run: RunInfo, series: dict[str, Series] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": run.id,
        "project": run.project,
        "format": run.format,
        "source_id": run.source_id,
        "experiment": run.experiment,
        "name": run.name,
        "status": run.status,
        "deleted": run.deleted,
        "hidden": run.hidden,
        "gone": run.gone,
        "parent": run.parent,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "path": run.path,
        "params": dict(run.params),
        "tags": dict(run.tags),
        "metrics": {k: metric_json(m) for k, m in run.metrics.items()},
        "warnings": [{"code": w.code, "message": w.message, "path": w.path} for w in run.warnings],
        "inputs": [dict(i) for i in run.inputs],
        "models": [dict(m) for m in run.models],
        "artifact_dir": run.artifact_dir,
    }
    if series is not None:
        out["series"] = {k: series_json(s) for k, s in sorted(series.items())}
    return out


def project_json(p: ProjectInfo) -> dict[str, Any]:
    return {"path": p.path, "name": p.name, "runs": p.run_count, "added_at": p.added_at, "scanned_at": p.scanned_at}
