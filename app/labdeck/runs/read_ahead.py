"""Reading a pass's changed sources a few ahead, on worker threads, handed back in order.

Parsing a native run's metrics is pyarrow's CSV reader above all (2.5–4 ms for a run of
10,000 points here), and pyarrow lets go of Python's lock while it parses: two sources
parse at once on two cores, and the pass's writes (SQLite, also without the lock) go on
beside them. Results come back in the walk's order, so a pass writes what it would have
written reading one source at a time. Only sources whose reader keeps no state between
reads, and where a worker pays (``Reader.reads_aside``), are read on the workers; the
others are read in turn on the caller's thread. At most ``ahead`` sources are read and not
yet handed back, which bounds the memory a pass holds whatever the number of runs."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = max(1, min(4, os.cpu_count() or 1))
AHEAD = 16


def read_ahead(
    items: Iterable[T], read: Callable[[T], R], aside: Callable[[T], bool], *,
    workers: int = WORKERS, ahead: int = AHEAD,
) -> Generator[R, None, None]:
    """``read(item)`` of each item, in order; items for which ``aside(item)`` holds are read
    ahead on ``workers`` threads. Closing the iterator early cancels what has not started
    and waits for what has (a worker is never left reading into a pass that ended)."""
    if workers <= 1:
        yield from map(read, items)
        return
    source = iter(items)
    pending: deque[tuple[T, Future[R] | None]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="labdeck-read") as pool:
        try:
            while True:
                while len(pending) < ahead:
                    item = next(source, _END)
                    if item is _END:
                        break
                    pending.append((item, pool.submit(read, item) if aside(item) else None))  # type: ignore[arg-type]
                if not pending:
                    return
                item, future = pending.popleft()
                yield future.result() if future is not None else read(item)
        finally:
            for _item, future in pending:
                if future is not None:
                    future.cancel()


_END = object()
