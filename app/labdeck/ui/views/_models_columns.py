"""The versions table's columns: the training run's main metrics and the version's dates.

Pure functions over registry records (no Qt, no database), so the worker thread computes
the rows and the GUI thread only fills cells.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from labdeck.ui.numbers import format_number

MAX_METRICS = 3  # a few columns: the table must still fit beside the review buttons
BASE_COLUMNS = ["Model", "State", "Format", "Run", "Registered by", "Created", "Approved"]
TAIL_COLUMNS = ["Pushed to"]


def metric_columns(versions: Sequence, limit: int = MAX_METRICS) -> list[str]:
    """The metrics most versions recorded (their run's last values), most shared first, then by name."""
    counts = Counter(name for v in versions for name, value in (v.metrics or {}).items() if value is not None)
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]


def approved_times(entries: Iterable) -> dict[int, int]:
    """Version number -> time (ms) of its latest approve entry."""
    out: dict[int, int] = {}
    for e in entries:
        if e.action == "approve":
            out[e.version] = max(out.get(e.version, 0), e.time)
    return out


def format_time(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def version_cells(v, metrics: Sequence[str], approved_ms: int | None) -> list[tuple[str, str]]:
    """(text, tooltip) per column, in the order of ``headers(metrics)``."""
    pushed = ", ".join(f"{p.registry}:{p.remote_version}" for p in v.pushes)
    cells = [(t, t) for t in (v.ref, v.state, v.model_format, v.run_uid, v.registered_by)]
    cells += [(format_time(v.created_at), ""), (format_time(approved_ms), "")]
    for name in metrics:
        value = (v.metrics or {}).get(name)
        cells.append(("", "") if value is None else (format_number(value), repr(value)))
    cells.append((pushed, pushed))
    return cells


def headers(metrics: Sequence[str]) -> list[str]:
    return BASE_COLUMNS + list(metrics) + TAIL_COLUMNS
