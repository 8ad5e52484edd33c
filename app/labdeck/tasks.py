"""Progress and cancellation for long operations, free of Qt.

Work functions take a ``Task``; the CLI prints its progress, the GUI relays it to a
progress bar through a signal, tests read it directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class Cancelled(Exception):
    """The user asked the operation to stop."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    message: str


class Task:
    """Cooperative cancellation plus throttled progress reports."""

    def __init__(self, on_progress: Callable[[Progress], None] | None = None, *, every_s: float = 0.1) -> None:
        self._cancel = threading.Event()
        self._on_progress = on_progress
        self._every_s = every_s
        self._last = 0.0
        self._latest: tuple[int, int | None, str] = (0, None, "")

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    @property
    def latest(self) -> Progress:
        return Progress(*self._latest)

    def report(self, done: int, total: int | None, message: str = "", *, force: bool = False) -> None:
        # Called once per source by an index pass: a plain tuple here, the Progress when asked.
        self._latest = (done, total, message)
        if self._on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._every_s:
            self._last = now
            self._on_progress(self.latest)
