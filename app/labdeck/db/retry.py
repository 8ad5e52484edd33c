"""Writing again when another writer got in first: the one place labdeck retries a write.

Two processes may append to the same chain at once (an approval log, a dataset's version
numbers). SQLite lets one commit; the other fails on a stale snapshot (OperationalError), a
sequence number already taken (IntegrityError) or a conflict its own code detects. The loser
runs its whole read-then-write transaction again, with a short, growing pause, so the chain
stays linear and no caller writes its own loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

T = TypeVar("T")

# What a lost race looks like at the database: retried by default.
RACES: tuple[type[BaseException], ...] = (OperationalError, IntegrityError)


def write_again_on_race(
    fn: Callable[[], T], *, races: tuple[type[BaseException], ...] = RACES, attempts: int = 5
) -> T:
    """``fn()`` (a whole read-then-write transaction), run again up to ``attempts`` times
    while it raises one of ``races``; the last failure is raised as it is."""
    for attempt in range(attempts):
        try:
            return fn()
        except races:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
