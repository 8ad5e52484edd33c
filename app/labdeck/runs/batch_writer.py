"""Writing a pass's batches on a thread of their own while the next batch is read.

A batch of 200 native runs took about as long to write (SQLite, with Python's lock let go
while it writes) as to read: one after the other, each waited for the other. Here the
writer takes one batch at a time, in order; the reader may finish the next batch
meanwhile and then waits, so at most three batches are held (one written, one handed
over, one being read)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

B = TypeVar("B")


class BatchWriter(Generic[B]):
    """``write(batch)`` for every batch ``put``, in order, on one thread. An error raised by
    ``write`` stops the writer and is raised again by the next ``put`` or by ``close``."""

    def __init__(self, write: Callable[[B], None]) -> None:
        self._write = write
        self._queue: queue.Queue[tuple[B] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="labdeck-index-write", daemon=True)
        self._thread.start()

    def put(self, batch: B) -> None:
        self._raise_error()
        self._queue.put((batch,))

    def close(self) -> None:
        """Wait for every batch handed over to be written."""
        self._queue.put(None)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after a failure, batches are taken and dropped
                try:
                    self._write(item[0])
                except BaseException as exc:  # noqa: BLE001 - handed to the pass's thread
                    self._error = exc
