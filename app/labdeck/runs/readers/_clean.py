"""What every reader hands the index is made of values the index can store.

Damaged or odd files give readers values no tool would write: ``None`` or a number where a
name belongs, integers past SQLite's 64 bits (10**30 in a JSON file), ±inf and NaN in JSON
fields, text with lone surrogates (a file name that is not UTF-8, decoded by Python with
``surrogateescape``). Each is coerced here, once for all readers, to what its column holds;
a coercion that loses something adds a warning on the run naming what was changed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labdeck.runs.readers.base import STATUSES, Points, ReadResult, ReadWarning, RunRecord

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TEXT_FIELDS = ("experiment", "name", "path")
TIME_FIELDS = ("start_time", "end_time")


def text(value: Any) -> str:
    """``value`` as text the index can store: lone surrogates (bytes that were not UTF-8)
    become U+FFFD."""
    s = value if isinstance(value, str) else ("" if value is None else str(value))
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape" if _only_escapes(s) else "surrogatepass").decode(
            "utf-8", "replace")


def _only_escapes(s: str) -> bool:
    return all(not (0xD800 <= ord(c) <= 0xDFFF) or 0xDC80 <= ord(c) <= 0xDCFF for c in s)


def clean_result(result: ReadResult, rel: str) -> ReadResult:
    """``result`` with every value coerced to what the index stores (in place)."""
    for record in result.runs:
        clean_record(record, rel)
    result.warnings = [clean_warning(w) for w in result.warnings]
    if result.registered_models is not None:
        lost: list[str] = []
        result.registered_models = _json_safe(result.registered_models, "registered_models", lost)
        if lost:
            result.warnings.append(_lost_warning(lost, rel, "the model registry"))
    return result


def clean_warning(w: ReadWarning) -> ReadWarning:
    return ReadWarning(text(w.code), text(w.message), text(w.path), bool(w.transient))


def clean_record(record: RunRecord, rel: str) -> None:
    lost: list[str] = []
    sid = text(record.source_id)
    if sid != record.source_id:
        lost.append(f"run id {sid!r} (not UTF-8)")
    record.source_id = sid
    record.meta = _meta(record.meta, lost)
    record.params = _kv(record.params, "param", lost)
    record.tags = _kv(record.tags, "tag", lost)
    record.points = _points(record.points, lost)
    if record.artifact_dir is not None:
        record.artifact_dir = text(record.artifact_dir)
    if record.inputs is not None:
        record.inputs = _json_safe(record.inputs, "inputs", lost)
    if record.models is not None:
        record.models = [_model(m, lost) for m in _json_safe(record.models, "models", lost) if isinstance(m, dict)]
    if record.summaries is not None:
        record.summaries = {text(k): v for k, v in record.summaries.items()}  # NaN/inf are real summaries
    record.warnings = [clean_warning(w) for w in record.warnings]
    if lost:
        record.warnings.append(_lost_warning(lost, rel, f"run {sid}"))


def _lost_warning(lost: list[str], rel: str, what: str) -> ReadWarning:
    shown = "; ".join(lost[:5]) + (f"; and {len(lost) - 5} more" if len(lost) > 5 else "")
    return ReadWarning("odd-value", f"{text(rel) or '.'}: {what} held values the index cannot store "
                       f"as they are: {shown}", text(rel))


def _meta(meta: dict[str, Any], lost: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if key in TEXT_FIELDS:
            out[key] = text(value)
            if value is not None and out[key] != value:
                lost.append(f"{key} {out[key]!r}")
        elif key in TIME_FIELDS:
            out[key] = _int_or_none(value, key, lost)
        elif key == "status":
            out[key] = value if value in STATUSES else "unknown"
            if value not in STATUSES:
                lost.append(f"status {text(value)!r} (now 'unknown')")
        elif key == "deleted":
            out[key] = bool(value)
        elif key in ("parent_source_id", "series_source"):
            out[key] = None if value is None else text(value)
        elif key == "provenance":
            out[key] = _json_safe(value, "provenance", lost)
        else:
            out[key] = value
    return out


def _int_or_none(value: Any, key: str, lost: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        lost.append(f"{key} {text(value)[:40]!r} (not a number)")
        return None
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        lost.append(f"{key} {value!r}")
        return None
    n = int(value)
    if not INT64_MIN <= n <= INT64_MAX:
        lost.append(f"{key} {text(value)[:40]} (out of range)")
        return None
    return n


def _kv(values: dict[Any, Any], what: str, lost: list[str]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        k, v = text(key), text(value)
        if (k != key and isinstance(key, str)) or (v != value and isinstance(value, str)):
            lost.append(f"{what} {k!r} (not UTF-8)")
        out[k] = v
    return out


def _points(points: dict[Any, Points], lost: list[str]) -> dict[str, Points]:
    out: dict[str, Points] = {}
    for key, p in points.items():
        k = text(key)
        if k != key:
            lost.append(f"metric {k!r} (not UTF-8)")
        if k in out:  # two keys that differ only in undecodable bytes
            prev = out[k]
            p = Points(np.concatenate([prev.steps, p.steps]), np.concatenate([prev.values, p.values]),
                       np.concatenate([prev.walls, p.walls]))
        out[k] = p
    return out


def _model(m: dict[str, Any], lost: list[str]) -> dict[str, Any]:
    if "step" in m and m["step"] is not None:
        m["step"] = _int_or_none(m["step"], "model step", lost)
    return m


def _json_safe(value: Any, where: str, lost: list[str]) -> Any:
    """``value`` with text cleaned, non-finite floats as the strings 'NaN'/'Infinity'/'-Infinity'
    and integers past 64 bits as text (what JSON and SQLite both hold)."""
    if isinstance(value, dict):
        return {text(k): _json_safe(v, where, lost) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, where, lost) for v in value]
    if isinstance(value, str):
        return text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f):
            return f
        return "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")
    if isinstance(value, (int, np.integer)):
        n = int(value)
        if INT64_MIN <= n <= INT64_MAX:
            return n
        lost.append(f"{where}: integer {str(n)[:30]} kept as text")
        return str(n)
    return text(value)
