"""From loaded series to the lines a metric plot draws: one per run, or one per group
(its aggregate centre and band). NumPy only; the plot widget just draws ``Line``s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labdeck.db.entities import RunInfo, Series
from labdeck.ui.curves import (
    X_METRIC_PREFIX,
    assign_colours,
    ema,
    finite,
    legend_names,
    x_from_metric,
    x_values,
)
from labdeck.ui.grouping import aggregate, group_label

if TYPE_CHECKING:  # NumPy loads in the functions that use it: not on the way to the first page
    import numpy as np

SeriesByRun = dict[str, dict[str, Series]]  # run id -> metric -> points


@dataclass(frozen=True)
class Line:
    """What one legend entry draws: a run's curve or a group's centre (with its band)."""

    key: str  # run id, or the group's label
    name: str  # legend entry
    colour: str
    x: np.ndarray
    y: np.ndarray
    raw: np.ndarray | None = None  # the unsmoothed y, drawn faint behind
    band: tuple[np.ndarray, np.ndarray] | None = None  # (low, high) at x
    run: RunInfo | None = None


def x_metric(x_mode: str) -> str | None:
    """The metric an x mode names ("metric: epoch" -> "epoch"), else None."""
    return x_mode[len(X_METRIC_PREFIX) :] if x_mode.startswith(X_METRIC_PREFIX) else None


def x_label(x_mode: str) -> str:
    by = x_metric(x_mode)
    if by is not None:
        return by
    return x_mode if x_mode == "step" else f"{x_mode} (s)"


def run_xy(
    per_run: dict[str, Series], key: str, x_mode: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """A run's (x, y) for ``key`` on the chosen x axis, or None if it has no such points."""
    import numpy as np
    s = per_run.get(key)
    if s is None or len(s) == 0:
        return None
    by = x_metric(x_mode)
    if by is None:
        return x_values(s, x_mode), finite(s.values)
    other = per_run.get(by)
    if other is None:
        return None
    x = x_from_metric(s, other)
    order = np.argsort(x, kind="stable")  # a plot wants x ascending (NaN last)
    return x[order], finite(s.values)[order]


def run_lines(
    runs: list[RunInfo],
    series: SeriesByRun,
    key: str,
    *,
    x_mode: str,
    smoothing: float,
) -> list[Line]:
    colours = assign_colours([r.id for r in runs])
    names = legend_names(runs)
    lines = []
    for run in runs:
        xy = run_xy(series.get(run.id, {}), key, x_mode)
        if xy is None:
            continue
        x, y = xy
        smoothed = ema(y, smoothing)
        lines.append(
            Line(
                key=run.id,
                name=names[run.id],
                colour=colours[run.id],
                x=x,
                y=smoothed,
                raw=y if smoothing > 0 else None,
                run=run,
            )
        )
    return lines


def group_lines(
    groups: dict[str, list[RunInfo]],
    group_by: str,
    series: SeriesByRun,
    key: str,
    *,
    x_mode: str,
    smoothing: float,
    centre: str,
    band: str,
) -> list[Line]:
    """A line per group: its runs' (smoothed) curves aggregated on an aligned x grid."""
    colours = assign_colours(list(groups))
    lines = []
    for value, runs in groups.items():
        curves = []
        for run in runs:
            xy = run_xy(series.get(run.id, {}), key, x_mode)
            if xy is not None:
                curves.append((xy[0], ema(xy[1], smoothing)))
        if not curves:
            continue
        agg = aggregate(curves, centre=centre, band=band)
        lines.append(
            Line(
                key=value,
                name=group_label(group_by, value, len(curves)),
                colour=colours[value],
                x=agg.x,
                y=agg.centre,
                band=None if band == "none" else (agg.low, agg.high),
            )
        )
    return lines
