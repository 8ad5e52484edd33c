"""The one place a lost write race is run again (db/retry.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from labdeck.db.retry import write_again_on_race


def test_a_lost_race_is_run_again_until_it_wins():
    calls = []

    def write() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE", {}, Exception("database snapshot is stale"))
        return "written"

    assert write_again_on_race(write) == "written" and len(calls) == 3


def test_the_last_failure_is_raised_and_other_errors_at_once():
    calls = []

    def always_taken() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    with pytest.raises(IntegrityError):
        write_again_on_race(always_taken, attempts=2)
    assert len(calls) == 2

    def broken() -> None:
        calls.append(1)
        raise ValueError("a programming error is not a race")

    calls.clear()
    with pytest.raises(ValueError):
        write_again_on_race(broken)
    assert len(calls) == 1
