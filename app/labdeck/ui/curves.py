"""Curve arithmetic for the compare plots (numpy only): x axes, EMA smoothing, colours,
legend names, robust y ranges, CSV."""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

from labdeck.db.entities import RunInfo, Series

if TYPE_CHECKING:  # NumPy loads in the functions that use it: not on the way to the first page
    import numpy as np

X_MODES = ("step", "wall time", "relative time")
X_METRIC_PREFIX = "metric: "  # an x mode naming another logged metric, e.g. "metric: epoch"

# Twenty distinguishable colours (Tableau 10 and its lighter partners, interleaved late).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#ad494a", "#756bb1", "#843c39",
    "#d6616b", "#3182bd", "#637939", "#e7969c",
]  # fmt: skip


DISTINCT = 10  # the first ten are the most distinct: runs prefer one of them


def run_colour(run_id: str) -> str:
    """A run's preferred colour, stable across sessions: a hash of its id picks the slot
    (ids of any format, not only hex ones)."""
    if not run_id:
        return PALETTE[0]
    digest = hashlib.blake2b(run_id.encode("utf-8"), digest_size=4).digest()
    return PALETTE[int.from_bytes(digest, "big") % DISTINCT]


def assign_colours(run_ids: list[str]) -> dict[str, str]:
    """Colours for the runs compared together: each run keeps its preferred colour unless an
    earlier run in the list already took it (then the next free one of the ten distinct
    colours, then of the twenty), so every plot of the comparison uses the same colour for
    a run and no two of the first 20 runs share one."""
    taken: set[int] = set()
    out: dict[str, str] = {}
    for rid in run_ids:
        start = PALETTE.index(run_colour(rid))
        candidates = [(start + i) % DISTINCT for i in range(DISTINCT)] + list(
            range(DISTINCT, len(PALETTE))
        )
        slot = next(
            (c for c in candidates if c not in taken),
            candidates[len(taken) % len(candidates)],
        )
        taken.add(slot)
        out[rid] = PALETTE[slot]
    return out


def x_values(series: Series, mode: str) -> np.ndarray:
    """The x coordinates of a series: steps, wall time (s since the epoch) or seconds since
    the run's first point. Formats without wall times fall back to steps."""
    import numpy as np
    if mode == "step" or len(series) == 0 or not np.isfinite(series.walls).any():
        return series.steps.astype(np.float64)
    seconds = series.walls / 1000.0
    if mode == "relative time":
        return seconds - np.nanmin(seconds)
    return seconds


def x_from_metric(series: Series, by: Series) -> np.ndarray:
    """x coordinates taken from another metric logged at the same steps (``epoch``, tokens
    seen): each point gets ``by``'s value at its step, interpolated between ``by``'s steps;
    points logged before ``by``'s first step or after its last get NaN (not drawn)."""
    import numpy as np
    if len(series) == 0 or len(by) == 0:
        return np.full(len(series), np.nan)
    order = np.argsort(by.steps, kind="stable")
    bx, by_values = by.steps[order].astype(np.float64), finite(by.values[order])
    keep = np.isfinite(by_values)
    if not keep.any():
        return np.full(len(series), np.nan)
    bx, by_values = bx[keep], by_values[keep]
    steps = series.steps.astype(np.float64)
    out = np.interp(steps, bx, by_values)
    out[(steps < bx[0]) | (steps > bx[-1])] = np.nan
    return out


def legend_names(runs: list[RunInfo]) -> dict[str, str]:
    """Names that tell runs apart: the run's name; where names repeat, prefixed by what
    differs among the namesakes (the experiment, else the project folder); where even that
    repeats, suffixed by the start of labdeck's id."""
    names = {r.id: r.name or r.id[:8] for r in runs}
    by_id = {r.id: r for r in runs}
    prefixes = (
        lambda r: r.experiment,
        lambda r: r.project.rstrip("/").rsplit("/", 1)[-1],
    )
    for prefix in prefixes:
        for group in _namesakes(names):
            values = {prefix(by_id[rid]) for rid in group}
            if len(values) > 1:  # a prefix that tells these apart
                for rid in group:
                    extra = prefix(by_id[rid])
                    names[rid] = f"{extra}/{names[rid]}" if extra else names[rid]
    for group in _namesakes(names):
        for rid in group:
            names[rid] = f"{names[rid]} · {rid[:8]}"
    return names


def _namesakes(names: dict[str, str]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for rid, label in names.items():
        groups.setdefault(label, []).append(rid)
    return [g for g in groups.values() if len(g) > 1]


def robust_range(
    arrays: list[np.ndarray], low: float = 1.0, high: float = 99.0
) -> tuple[float, float] | None:
    """The ``low``–``high`` percentile span of every finite value, with a 5 % margin: a y
    range that ignores outliers (a loss spike at step 0 no longer flattens the rest)."""
    import numpy as np
    finite_parts = [a[np.isfinite(a)] for a in arrays if len(a)]
    values = np.concatenate(finite_parts) if finite_parts else np.empty(0)
    if len(values) == 0:
        return None
    lo, hi = np.percentile(values, [low, high])
    margin = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    return float(lo - margin), float(hi + margin)


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style debiased exponential moving average (pandas' adjusted EWM, in C).
    NaN/inf points stay NaN and do not poison the average. ``weight`` 0 returns the values."""
    import numpy as np
    if weight <= 0 or len(values) == 0:
        return values
    import pandas as pd  # lazily: keeps the window's start-up lean

    clean = finite(values)
    smoothed = (
        pd.Series(clean)
        .ewm(alpha=1.0 - weight, adjust=True, ignore_na=True)
        .mean()
        .to_numpy()
    )
    return np.where(np.isnan(clean), np.nan, smoothed)


def finite(values: np.ndarray) -> np.ndarray:
    import numpy as np
    return np.where(np.isfinite(values), values, np.nan)


def write_csv(
    path: str | Path,
    runs: list[RunInfo],
    series: dict[str, dict[str, Series]],
    keys: list[str],
) -> int:
    """Long-format CSV of the compared data: one row per point. Returns the row count."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["run_id", "run_name", "metric", "step", "value", "wall_time_ms"])
        for run in runs:
            for key in keys:
                s = series.get(run.id, {}).get(key)
                if s is None:
                    continue
                for step, value, wall in zip(
                    s.steps.tolist(), s.values.tolist(), s.walls.tolist()
                ):
                    out.writerow(
                        [
                            run.id,
                            run.name,
                            key,
                            step,
                            repr(value),
                            "" if math.isnan(wall) else int(wall),
                        ]
                    )
                    rows += 1
    return rows
