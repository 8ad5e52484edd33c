"""How close a reproduction came: every metric series compared with the original's.

``identical``: same steps and bit-for-bit the same values (NaN matches NaN).
``within_tolerance``: same steps, every value within ``rtol`` of the original's.
``diverged``: otherwise, with the first step (smallest step over all metrics) where it departs.
``nothing_to_compare``: the original logged no metric, so no outcome could be checked (never
called ``identical``: an empty comparison proves nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labdeck.db.entities import Series

DEFAULT_RTOL = 1e-6
NOTHING_TO_COMPARE = ("the original run has no metrics (nor its training's other sources): "
                      "nothing to compare, so nothing is known about the reproduction's results")


@dataclass(frozen=True)
class Divergence:
    metric: str
    step: int | None
    original: float | None
    reproduced: float | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    verdict: str  # identical | within_tolerance | diverged | nothing_to_compare
    rtol: float
    metrics: int  # series compared
    points: int
    max_rel_diff: float
    first: Divergence | None = None
    note: str = ""

    def to_json(self) -> dict:
        out = {"verdict": self.verdict, "rtol": self.rtol, "metrics_compared": self.metrics,
               "points_compared": self.points, "max_rel_diff": self.max_rel_diff, "first_divergence": None}
        if self.first is not None:
            f = self.first
            out["first_divergence"] = {"metric": f.metric, "step": f.step, "original": _num(f.original),
                                       "reproduced": _num(f.reproduced), "reason": f.reason}
        if self.note:
            out["note"] = self.note
        return out


def _num(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _first_bad(a: Series, b: Series, rtol: float) -> tuple[int | None, str, float, bool]:
    """(index of the first departure or None, reason, max relative difference, bit-identical)."""
    import numpy as np  # here: `labdeck launch` imports this module and must start fast

    n = min(len(a), len(b))
    sa, sb = a.steps[:n], b.steps[:n]
    va, vb = a.values[:n].astype(np.float64), b.values[:n].astype(np.float64)
    bad_step = np.nonzero(sa != sb)[0]
    both_nan = np.isnan(va) & np.isnan(vb)
    same_bits = (va.view(np.int64) == vb.view(np.int64)) | both_nan
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.abs(va - vb)
        rel = np.where(va == vb, 0.0, diff / np.abs(va))
    rel = np.where(both_nan, 0.0, rel)
    rel = np.where(np.isnan(rel), np.inf, rel)
    bad_val = np.nonzero(~(rel <= rtol))[0]
    candidates = []
    if len(bad_step):
        candidates.append((int(bad_step[0]), "steps differ"))
    if len(bad_val):
        candidates.append((int(bad_val[0]), f"relative difference above {rtol:g}"))
    if len(a) != len(b):
        candidates.append((n, f"{len(a)} points in the original, {len(b)} in the reproduction"))
    max_rel = float(rel.max()) if n else 0.0
    if not candidates:
        return None, "", max_rel, bool(same_bits.all())
    idx, reason = min(candidates)
    return idx, reason, max_rel, False


def compare(original: dict[str, Series], reproduced: dict[str, Series], rtol: float = DEFAULT_RTOL) -> Verdict:
    if not original:
        return Verdict("nothing_to_compare", rtol, 0, 0, 0.0, None, NOTHING_TO_COMPARE)
    firsts: list[tuple[int, str, Divergence]] = []
    identical = True
    max_rel = 0.0
    points = 0
    for key in sorted(set(original) | set(reproduced)):
        a, b = original.get(key), reproduced.get(key)
        if a is None or b is None:
            present = a if a is not None else b
            assert present is not None  # the key came from one of the two
            step = int(present.steps[0]) if len(present) else None
            where = "reproduction" if b is None else "original"
            firsts.append((step if step is not None else -1, key,
                           Divergence(key, step, None, None, f"metric missing in the {where}")))
            identical = False
            continue
        points += min(len(a), len(b))
        idx, reason, rel, same = _first_bad(a, b, rtol)
        max_rel = max(max_rel, rel)
        identical &= same
        if idx is not None:
            ref = a if idx < len(a) else b
            step = int(ref.steps[idx]) if idx < len(ref) else None
            firsts.append((step if step is not None else -1, key, Divergence(
                key, step, float(a.values[idx]) if idx < len(a) else None,
                float(b.values[idx]) if idx < len(b) else None, reason)))
    if firsts:
        first = min(firsts, key=lambda t: (t[0], t[1]))[2]
        return Verdict("diverged", rtol, len(original), points, max_rel, first)
    return Verdict("identical" if identical else "within_tolerance", rtol, len(original), points, max_rel)
