"""The compare plots' arithmetic: smoothing, x axes, colours, CSV."""

from __future__ import annotations

import numpy as np
from labdeck.db.entities import Series
from labdeck.ui.curves import PALETTE, assign_colours, ema, x_values


def test_ema_is_debiased_and_skips_nan():
    values = np.array([1.0, 2.0, np.nan, 4.0, np.inf])
    out = ema(values, 0.5)
    assert out[0] == 1.0  # debiased: the first point is itself, not half of it
    assert np.isclose(out[1], (0.5 * 0.5 * 1 + 0.5 * 2) / 0.75)
    assert np.isnan(out[2]) and np.isnan(out[4])
    assert np.isfinite(out[3])
    assert ema(values, 0.0) is values


def test_x_axes_step_wall_and_relative_time():
    s = Series(
        np.array([5, 6, 7]),
        np.array([1.0, 2.0, 3.0]),
        np.array([10_000.0, 12_000.0, 15_000.0]),
    )
    assert list(x_values(s, "step")) == [5, 6, 7]
    assert list(x_values(s, "wall time")) == [10.0, 12.0, 15.0]
    assert list(x_values(s, "relative time")) == [0.0, 2.0, 5.0]
    no_walls = Series(s.steps, s.values, np.full(3, np.nan))
    assert list(x_values(no_walls, "relative time")) == [5, 6, 7]  # falls back to steps


def test_compared_runs_never_share_a_colour_and_keep_it():
    ids = [f"{i:08x}abcd" for i in range(0, 200, 7)][:20]
    colours = assign_colours(ids)
    assert len(set(colours.values())) == 20
    assert set(colours.values()) <= set(PALETTE)
    assert assign_colours(ids[:3]) == {k: colours[k] for k in ids[:3]}
