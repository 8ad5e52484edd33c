"""Small formatting helpers shared by the renderers."""

from __future__ import annotations

import math

from labdeck.cards.facts import CardFacts
from labdeck.db.cards import DatasetRecord

EVAL_CONTEXTS = ("eval", "test", "valid")


def num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NaN"
    return f"{x:.6g}"


def size(n: int | None) -> str:
    if n is None:
        return "unknown"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit} ({n} B)"
        value /= 1024
    return f"{n} B"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def is_eval(d: DatasetRecord) -> bool:
    return any(c in d.context.lower() for c in EVAL_CONTEXTS)


def dataset_label(d: DatasetRecord) -> str:
    return f"{d.name}:{d.version}" if d.version is not None else (d.source or d.name or "unnamed")


def split_of(metric: str) -> str:
    """The dataset split a metric's name says it was measured on ('' when it says nothing)."""
    head = metric.replace("-", "_").replace("/", "_").split("_", 1)[0].lower()
    return {"val": "validation", "valid": "validation", "validation": "validation", "eval": "validation",
            "test": "test", "train": "train", "training": "train"}.get(head, "")


def license_id(facts: CardFacts) -> str:
    """The license as the Hub spells it: an identifier stays, free text becomes 'other'."""
    text = facts.sections.get("license", "").strip()
    if not text:
        return ""
    first = text.split()[0].lower()
    return first if len(text.split()) == 1 and all(c.isalnum() or c in ".-+" for c in first) else "other"
