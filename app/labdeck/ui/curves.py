"""Curve arithmetic for the compare plots (numpy only): x axes, EMA smoothing, colours, CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from labdeck.db.entities import RunInfo, Series

X_MODES = ("step", "wall time", "relative time")

# Twenty distinguishable colours (Tableau 10 and its lighter partners, interleaved late).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#ad494a", "#756bb1", "#843c39",
    "#d6616b", "#3182bd", "#637939", "#e7969c",
]  # fmt: skip


DISTINCT = 10  # the first ten are the most distinct: runs prefer one of them


def run_colour(run_id: str) -> str:
    """A run's preferred colour, stable across sessions."""
    return PALETTE[int(run_id[:8], 16) % DISTINCT] if run_id else PALETTE[0]


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
    if mode == "step" or len(series) == 0 or not np.isfinite(series.walls).any():
        return series.steps.astype(np.float64)
    seconds = series.walls / 1000.0
    if mode == "relative time":
        return seconds - np.nanmin(seconds)
    return seconds


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style debiased exponential moving average (pandas' adjusted EWM, in C).
    NaN/inf points stay NaN and do not poison the average. ``weight`` 0 returns the values."""
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
