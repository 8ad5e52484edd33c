"""Slice parsing and the hand-drawn plots, on awkward values."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from labdeck.cards import svg
from labdeck.cards.slices import SlicePatternError, split_metrics


def test_default_pattern_splits_metric_factor_and_level():
    got = split_metrics({"val/acc@sex=female": 0.9, "acc": 0.8, "f1@age=60+": float("nan"), "odd@x": 1.0,
                         "loss@region=eu=west": 0.3})
    assert [(m.metric, m.factor, m.level, m.value) for m in got] == [
        ("acc", "", "", 0.8), ("odd@x", "", "", 1.0),  # no '=': not a slice
        ("f1", "age", "60+", None), ("loss", "region", "eu=west", 0.3), ("val/acc", "sex", "female", 0.9)]


def test_a_configured_pattern_and_a_bad_one():
    got = split_metrics({"acc[sex:f]": 0.7, "acc": 0.8}, r"^(?P<metric>\w+)\[(?P<factor>\w+):(?P<value>\w+)\]$")
    assert [(m.metric, m.slice) for m in got] == [("acc", ""), ("acc", "sex=f")]
    with pytest.raises(SlicePatternError, match="named groups"):
        split_metrics({}, r"^(?P<metric>.+)$")


def test_plots_are_valid_svg_even_with_nan_inf_and_one_point():
    for image in (svg.line_plot("loss", [0, 1, 2, 3], [1.0, float("nan"), math.inf, 0.5]),
                  svg.line_plot("flat", [5], [2.0]), svg.line_plot("none", [0, 1], [math.nan, math.nan]),
                  svg.bar_plot("acc by slice", ["sex=f", "sex=m", "age=60+"], [0.9, None, -0.1])):
        root = ET.fromstring(image)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "nan" not in image.lower().replace("no finite values", "")
