"""Packing metric points into chunk blobs, and summarising them.

A chunk is three little-endian arrays (int64 steps, float64 values, float64 wall ms).
Appending points adds a chunk; ``compact`` merges a series' chunks when there are many.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from labdeck.db.entities import MetricStats, Series

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where points are packed or read, not with the module: listing runs (a CLI
# verb's whole job) goes through here and must not pay numpy's import (about 0.1 s).
STEP = "<i8"
VALUE = "<f8"
WALL = "<f8"


def pack(steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> tuple[bytes, bytes, bytes]:
    import numpy as np

    return (
        np.ascontiguousarray(steps, dtype=STEP).tobytes(),
        np.ascontiguousarray(values, dtype=VALUE).tobytes(),
        np.ascontiguousarray(walls, dtype=WALL).tobytes(),
    )


def unpack(chunks: list[tuple[bytes, bytes, bytes]]) -> Series:
    import numpy as np

    if not chunks:
        return Series(np.empty(0, STEP), np.empty(0, VALUE), np.empty(0, WALL))
    if len(chunks) == 1:
        s, v, w = chunks[0]
        return Series(np.frombuffer(s, STEP), np.frombuffer(v, VALUE), np.frombuffer(w, WALL))
    return Series(
        np.frombuffer(b"".join(c[0] for c in chunks), STEP),
        np.frombuffer(b"".join(c[1] for c in chunks), VALUE),
        np.frombuffer(b"".join(c[2] for c in chunks), WALL),
    )


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def summarise(
    steps: np.ndarray, values: np.ndarray, walls: np.ndarray, previous: dict | None
) -> dict:
    """Fold new points into a summary row (a dict of MetricSummary columns).

    ``last`` follows MLflow's rule: the value at the greatest (step, wall time), a later
    point winning a tie. Min/max ignore NaN; they are NaN (stored NULL) only when every
    point is NaN.
    """
    import numpy as np

    # Position of the greatest (step, wall) pair; lexsort is stable, so ties go to the later point.
    # An unknown wall time (NaN) ranks below every known one, as in ``merge``.
    order = np.lexsort((np.where(np.isnan(walls), -np.inf, walls), steps))
    i = int(order[-1])
    finite = values[~np.isnan(values)]
    new = {
        "last": _nan_to_none(float(values[i])),
        "min": float(finite.min()) if len(finite) else None,
        "max": float(finite.max()) if len(finite) else None,
        "count": len(steps),
        "last_step": int(steps[i]),
        "last_wall": float(walls[i]),
    }
    return new if previous is None else merge(previous, new)


def merge(previous: dict, new: dict) -> dict:
    """A summary of old points folded with a summary of points logged after them."""
    if previous["count"] == 0:
        return new
    take_new = _rank(new) >= _rank(previous)  # a tie goes to the points logged later
    newer = new if take_new else previous

    def pick(f, a, b):
        return b if a is None else a if b is None else f(a, b)

    return {
        "last": newer["last"],
        "min": pick(min, previous["min"], new["min"]),
        "max": pick(max, previous["max"], new["max"]),
        "count": previous["count"] + new["count"],
        "last_step": newer["last_step"],
        "last_wall": newer["last_wall"],
    }


def _rank(summary: dict) -> tuple[int, float]:
    """(last step, last wall time) for ordering; an unknown wall time (None or NaN: formats
    that record none, a step logged twice) ranks below every known one."""
    wall = summary["last_wall"]
    return summary["last_step"], -math.inf if wall is None or math.isnan(wall) else wall


def stats_from_row(last, min_, max_, count, last_step) -> MetricStats:
    return MetricStats(
        last=math.nan if last is None else last,
        min=math.nan if min_ is None else min_,
        max=math.nan if max_ is None else max_,
        count=count,
        last_step=last_step,
    )
