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

T = TypeVar("T")


def database_races() -> tuple[type[BaseException], ...]:
    """What a lost race looks like through SQLAlchemy: retried by default. (Imported when
    asked for: a caller writing in plain SQL names its own races and never loads SQLAlchemy.)"""
    from sqlalchemy.exc import IntegrityError, OperationalError

    return (OperationalError, IntegrityError)


def write_again_on_race(
    fn: Callable[[], T], *, races: tuple[type[BaseException], ...] | None = None, attempts: int = 5
) -> T:
    """``fn()`` (a whole read-then-write transaction), run again up to ``attempts`` times
    while it raises one of ``races`` (``database_races()`` unless given); the last failure is
    raised as it is."""
    if races is None:
        races = database_races()
    for attempt in range(attempts):
        try:
            return fn()
        except races:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
