"""Packing metric points into chunk blobs, and summarising them.

A chunk is three little-endian arrays (int64 steps, float64 values, float64 wall ms).
Appending points adds a chunk; ``compact`` merges a series' chunks when there are many.
"""

from __future__ import annotations

import math

import numpy as np

from labdeck.db.entities import MetricStats, Series

STEP = np.dtype("<i8")
VALUE = np.dtype("<f8")
WALL = np.dtype("<f8")


def pack(steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> tuple[bytes, bytes, bytes]:
    return (
        np.ascontiguousarray(steps, dtype=STEP).tobytes(),
        np.ascontiguousarray(values, dtype=VALUE).tobytes(),
        np.ascontiguousarray(walls, dtype=WALL).tobytes(),
    )


def unpack(chunks: list[tuple[bytes, bytes, bytes]]) -> Series:
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
    n = len(steps)
    # Position of the greatest (step, wall) pair; lexsort is stable, so ties go to the later point.
    order = np.lexsort((walls, steps))
    i = int(order[-1])
    cand_step, cand_wall, cand_value = int(steps[i]), float(walls[i]), float(values[i])
    finite = values[~np.isnan(values)]
    new_min = float(finite.min()) if len(finite) else math.nan
    new_max = float(finite.max()) if len(finite) else math.nan
    if previous is None or previous["count"] == 0:
        return {
            "last": _nan_to_none(cand_value),
            "min": _nan_to_none(new_min),
            "max": _nan_to_none(new_max),
            "count": n,
            "last_step": cand_step,
            "last_wall": cand_wall,
        }
    old_min = math.nan if previous["min"] is None else previous["min"]
    old_max = math.nan if previous["max"] is None else previous["max"]
    prev_key = (previous["last_step"], previous["last_wall"])
    take_new = (cand_step, cand_wall) >= prev_key
    return {
        "last": _nan_to_none(cand_value) if take_new else previous["last"],
        "min": _nan_to_none(float(np.fmin(old_min, new_min))),
        "max": _nan_to_none(float(np.fmax(old_max, new_max))),
        "count": previous["count"] + n,
        "last_step": cand_step if take_new else previous["last_step"],
        "last_wall": cand_wall if take_new else previous["last_wall"],
    }


def stats_from_row(last, min_, max_, count, last_step) -> MetricStats:
    return MetricStats(
        last=math.nan if last is None else last,
        min=math.nan if min_ is None else min_,
        max=math.nan if max_ is None else max_,
        count=count,
        last_step=last_step,
    )
