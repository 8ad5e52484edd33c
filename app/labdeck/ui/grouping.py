"""Grouping runs by a param, tag or attribute, and a group's aggregate curve (NumPy only).

A group's curve is computed on one aligned grid: the union of its runs' x values (thinned
to at most ``MAX_GRID`` points); each run is interpolated linearly onto the grid inside its
own x span and is absent (NaN) outside it, so a run that stopped early does not drag the
mean down. The centre is the mean or median over the runs present at each grid point, the
band min–max or mean ± one (population) standard deviation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labdeck.db.entities import RunInfo
from labdeck.runs.table_shape import NO_VALUE  # the table's group of runs without a value

if TYPE_CHECKING:  # NumPy loads in the functions that use it: not on the way to the first page
    import numpy as np

ATTRIBUTES = ("experiment", "status", "format", "project", "name")
CENTRES = ("mean", "median")
BANDS = ("min–max", "± std", "none")
MAX_GRID = 2000


def group_keys(runs: list[RunInfo]) -> list[str]:
    """Every key the runs can be grouped by: attributes, then params and tags by name."""
    params = sorted({k for r in runs for k in r.params})
    tags = sorted({k for r in runs for k in r.tags})
    return (
        list(ATTRIBUTES) + [f"params.{k}" for k in params] + [f"tags.{k}" for k in tags]
    )


def group_value(run: RunInfo, key: str) -> str:
    kind, _, name = key.partition(".")
    if kind == "params" and name:
        return run.params.get(name, NO_VALUE)
    if kind == "tags" and name:
        return run.tags.get(name, NO_VALUE)
    if key == "project":
        return run.project.rstrip("/").rsplit("/", 1)[-1]
    value = getattr(run, key, None) if key in ATTRIBUTES else None
    return str(value) if value not in (None, "") else NO_VALUE


def group_runs(runs: list[RunInfo], key: str) -> dict[str, list[RunInfo]]:
    """Runs by their value of ``key``, groups in order of first appearance (table order);
    values that read as numbers sort numerically."""
    groups: dict[str, list[RunInfo]] = {}
    for run in runs:
        groups.setdefault(group_value(run, key), []).append(run)
    return dict(sorted(groups.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def group_label(key: str, value: str, n: int) -> str:
    name = key.split(".", 1)[-1]
    return f"{name}={value} (n={n})"


@dataclass(frozen=True)
class Aggregate:
    """A group's curve on its grid: centre line and band (low, high) per grid point."""

    x: np.ndarray
    centre: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray  # runs present at each grid point


def aligned_grid(xs: list[np.ndarray], max_points: int = MAX_GRID) -> np.ndarray:
    """The sorted union of the runs' finite x values, thinned evenly past ``max_points``."""
    import numpy as np
    parts = [x[np.isfinite(x)] for x in xs if len(x)]
    grid = np.unique(np.concatenate(parts)) if parts else np.empty(0)
    if len(grid) > max_points:
        grid = grid[np.linspace(0, len(grid) - 1, max_points).round().astype(np.int64)]
    return grid


def on_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """One run's values interpolated at the grid points inside its own x span, NaN outside."""
    import numpy as np
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = np.full(len(grid), np.nan)
    if len(x) == 0:
        return out
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    inside = (grid >= x[0]) & (grid <= x[-1])
    out[inside] = np.interp(grid[inside], x, y)
    return out


def aggregate(
    curves: list[tuple[np.ndarray, np.ndarray]],
    *,
    centre: str = "mean",
    band: str = "min–max",
) -> Aggregate:
    """Aggregate runs' (x, y) curves on their aligned grid."""
    import numpy as np
    grid = aligned_grid([x for x, _y in curves])
    stack = (
        np.vstack([on_grid(x, y, grid) for x, y in curves])
        if curves
        else np.empty((0, 0))
    )
    count = np.isfinite(stack).sum(axis=0) if curves else np.zeros(0, np.int64)
    # All-NaN columns (no run present there) are expected: no RuntimeWarning for them.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        middle = (
            np.nanmedian(stack, axis=0)
            if centre == "median"
            else np.nanmean(stack, axis=0)
        )
        if band == "± std":
            spread = np.nanstd(stack, axis=0)
            mean = np.nanmean(stack, axis=0)
            low, high = mean - spread, mean + spread
        elif band == "min–max":
            low, high = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
        else:
            low, high = middle, middle
    return Aggregate(grid, middle, low, high, count)

