"""Per-slice metrics: a metric named ``METRIC@FACTOR=VALUE`` is METRIC on the slice FACTOR=VALUE.

The pattern is a regular expression with the named groups ``metric``, ``factor`` and
``value``; ``LABDECK_SLICE_PATTERN`` (or ``--slice-pattern``) replaces the default.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from labdeck.errors import UserError

DEFAULT_PATTERN = r"^(?P<metric>[^@]+)@(?P<factor>[^=@]+)=(?P<value>.+)$"
ENV = "LABDECK_SLICE_PATTERN"
GROUPS = ("metric", "factor", "value")


class SlicePatternError(UserError, ValueError):
    pass


@dataclass(frozen=True)
class MetricValue:
    metric: str
    value: float | None
    factor: str = ""  # "" for the overall metric
    level: str = ""  # the factor's value: 'female' in val/acc@sex=female

    @property
    def slice(self) -> str:
        return f"{self.factor}={self.level}" if self.factor else ""


def compile_pattern(pattern: str | None = None) -> re.Pattern[str]:
    text = pattern or os.environ.get(ENV) or DEFAULT_PATTERN
    try:
        rx = re.compile(text)
    except re.error as exc:
        raise SlicePatternError(f"bad slice pattern {text!r}: {exc}") from None
    if not set(GROUPS) <= set(rx.groupindex):
        raise SlicePatternError(f"slice pattern {text!r} must have the named groups (?P<metric>…), "
                                "(?P<factor>…) and (?P<value>…)")
    return rx


def split_metrics(metrics: dict[str, float | None], pattern: str | None = None) -> list[MetricValue]:
    """Overall metrics first (by name), then each metric's slices (by metric, factor, level)."""
    rx = compile_pattern(pattern)
    out = []
    for key, value in metrics.items():
        v = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        m = rx.match(key)
        if m and all(m.group(g) for g in GROUPS):
            out.append(MetricValue(m.group("metric"), v, m.group("factor"), m.group("value")))
        else:
            out.append(MetricValue(key, v))
    return sorted(out, key=lambda x: (x.factor != "", x.metric, x.factor, x.level))
