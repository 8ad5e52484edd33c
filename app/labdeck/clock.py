"""The one clock every stored time is read from: milliseconds since the epoch."""

from __future__ import annotations

import time


def now_ms() -> int:
    return int(time.time() * 1000)
