"""What an index pass did: counts, kept apart from the indexer so that the app can read a
pass's report (sent by the indexer process) without loading the indexer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IndexStats:
    projects: int = 0
    sources: int = 0
    read: int = 0
    skipped: int = 0
    runs: int = 0
    points: int = 0
    forgotten: int = 0
    warnings: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def add(self, other: IndexStats) -> None:
        for name in ("projects", "sources", "read", "skipped", "runs", "points", "forgotten", "warnings"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cancelled = self.cancelled or other.cancelled
