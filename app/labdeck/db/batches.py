"""Splitting long key lists for ``IN (...)`` queries (SQLite binds at most 32,766 variables)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import TypeVar

T = TypeVar("T")
BATCH = 900  # well below the limit, and small enough that each statement stays short


def batches(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def placeholders(items: Sized) -> str:
    """``?, ?, …``: one parameter per item, for ``IN (...)`` in SQL text."""
    return ", ".join("?" * len(items))
