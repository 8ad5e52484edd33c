"""Verdicts: identical, within tolerance, diverged with the first step and metric."""

from __future__ import annotations

import numpy as np
from labdeck.db.entities import Series
from labdeck.launch.verdict import compare


def s(values, steps=None) -> Series:
    v = np.asarray(values, dtype=np.float64)
    st = np.asarray(steps if steps is not None else range(len(v)), dtype=np.int64)
    return Series(st, v, np.zeros(len(v)))


def test_identical_tolerance_and_divergence():
    a = {"loss": s([1.0, 0.5, np.nan]), "acc": s([0.1, 0.2, 0.3])}
    assert compare(a, {"loss": s([1.0, 0.5, np.nan]), "acc": s([0.1, 0.2, 0.3])}).verdict == "identical"
    near = {"loss": s([1.0, 0.5 * (1 + 1e-9), np.nan]), "acc": s([0.1, 0.2, 0.3])}
    v = compare(a, near)
    assert v.verdict == "within_tolerance" and 0 < v.max_rel_diff < 1e-6
    far = {"loss": s([1.0, 0.5, np.nan]), "acc": s([0.1, 0.25, 0.9])}
    v = compare(a, far)
    assert v.verdict == "diverged" and (v.first.metric, v.first.step) == ("acc", 1)
    assert compare(a, near, rtol=1e-12).verdict == "diverged"


def test_missing_metric_and_short_series_diverge():
    a = {"loss": s([1.0, 0.5, 0.25])}
    v = compare(a, {"loss": s([1.0, 0.5])})
    assert v.verdict == "diverged" and v.first.step == 2 and "points" in v.first.reason
    v = compare(a, {})
    assert v.verdict == "diverged" and "missing in the reproduction" in v.first.reason
    v = compare(a, {"loss": s([1.0, 0.5, 0.25], steps=[0, 1, 3])})
    assert v.first.reason == "steps differ" and v.first.step == 2


def test_no_metric_in_the_original_is_nothing_to_compare_never_identical():
    for reproduced in ({}, {"loss": s([1.0])}):
        v = compare({}, reproduced)
        assert v.verdict == "nothing_to_compare" and v.metrics == 0 and "nothing to compare" in v.note
