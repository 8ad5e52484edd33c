"""Background reads: the GUI thread never waits on the index or the disk.

Work is a plain callable run on a small thread pool; its result comes back to the GUI
thread through one queued signal. Each submission names a *channel* ("query", "page",
"series", ...): a newer submission on the same channel makes the older one stale, and a
stale result is dropped instead of delivered (start-cancels-previous, as in Orange's
ConcurrentMixin). SQLite in WAL mode lets these readers run beside the indexer.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal


class Background(QObject):
    """Runs callables off the GUI thread; calls back on the GUI thread."""

    _finished = Signal(
        object, object, object, object
    )  # channel, token, result, callback
    failed = Signal(str, str)  # channel, message: shown in the status bar, never lost
    idle_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, workers: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="labdeck-read"
        )
        self._tokens: dict[str, int] = {}
        self._pending = 0
        self._closed = False
        # Emitted from a worker thread, received here on the GUI thread (queued connection).
        self._finished.connect(self._deliver)

    @property
    def idle(self) -> bool:
        return self._pending == 0

    def submit(
        self,
        channel: str,
        fn: Callable[[], Any],
        on_result: Callable[[Any], None],
        *,
        on_error: Callable[[Exception], None] | None = None,
        exclusive: bool = True,
    ) -> int:
        """Run ``fn()`` in a worker; ``on_result(value)`` follows on the GUI thread.

        With ``exclusive`` (the default) an earlier, still-running submission on the same
        channel is superseded: its result is discarded when it arrives.
        """
        if self._closed:
            return 0
        token = self._tokens.get(channel, 0) + (1 if exclusive else 0)
        self._tokens[channel] = token
        self._pending += 1
        if self._pending == 1:
            self.idle_changed.emit(False)

        def job() -> None:
            try:
                result: Any = fn()
            except Exception as exc:  # noqa: BLE001 - handed to the GUI thread, not lost
                if os.environ.get("LABDECK_DEBUG"):
                    traceback.print_exc()
                result = exc
            if not self._closed:
                self._finished.emit(channel, token, result, (on_result, on_error))

        self._pool.submit(job)
        return token

    def invalidate(self, channel: str) -> None:
        """Make every submission still running on ``channel`` stale."""
        self._tokens[channel] = self._tokens.get(channel, 0) + 1

    def _deliver(
        self, channel: str, token: int, result: object, callbacks: object
    ) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.idle_changed.emit(True)
        if self._closed or token != self._tokens.get(channel):
            return  # superseded by a newer request on this channel
        on_result, on_error = callbacks  # type: ignore[misc]
        if isinstance(result, Exception):
            if on_error is not None:
                on_error(result)
            else:
                self.failed.emit(channel, str(result))
            return
        on_result(result)

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
