"""The writer lock of an index: one labdeck process indexes (or migrates) an index at a time.

An ``flock`` on ``<index>.lock`` beside the index file: the kernel drops it when its process
dies (kill -9 included), so a crashed indexer never blocks the others. ``flock`` locks belong
to an open file description, so two threads of one process would both get one through their
own descriptors; a per-process lock per index path is taken first, which makes the lock
exclusive between threads too (and re-entrant within one thread).

The holder writes ``pid host what`` into the file so that a waiting process can say who it
waits for.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_S = 0.1


class LockCancelled(Exception):
    """The wait for the writer lock was given up (the caller's cancel)."""


_process_locks: dict[str, threading.RLock] = {}
_process_locks_guard = threading.Lock()
# Per thread: index path -> (descriptor, depth), for re-entrant use.
_held = threading.local()


def lock_path(index_path: Path) -> Path:
    return Path(str(index_path) + ".lock")


def _process_lock(key: str) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.RLock())


def holder(index_path: Path) -> str:
    """Who holds (or last held) the lock, as written by its holder: 'pid N on HOST (what)'."""
    try:
        text = lock_path(index_path).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return "another labdeck process"
    if len(text) >= 2:
        what = " ".join(text[2:])
        return f"pid {text[0]} on {text[1]}" + (f" ({what})" if what else "")
    return "another labdeck process"


@contextmanager
def writer_lock(
    index_path: Path,
    what: str,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the index's writer lock for the block, waiting for it while another process or
    thread holds it. ``on_wait`` is told once whom we wait for; ``cancelled`` ends the wait
    with ``LockCancelled``."""
    key = os.path.realpath(index_path)
    held: dict[str, list] = _held.__dict__.setdefault("locks", {})
    if key in held:  # re-entered by the same thread
        held[key][1] += 1
        try:
            yield
        finally:
            held[key][1] -= 1
        return
    plock = _process_lock(key)
    told = False
    while not plock.acquire(timeout=POLL_S):
        if cancelled():
            raise LockCancelled()
        if not told and on_wait is not None:
            on_wait("another indexing pass of this process")
            told = True
    try:
        fd = os.open(lock_path(index_path), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if cancelled():
                        raise LockCancelled() from None
                    if not told and on_wait is not None:
                        on_wait(holder(index_path))
                        told = True
                    time.sleep(POLL_S)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {os.uname().nodename} {what}\n".encode(), 0)
            held[key] = [fd, 0]
            try:
                yield
            finally:
                del held[key]
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        plock.release()


def is_locked(index_path: Path) -> bool:
    """Whether some process (this one included) holds the writer lock now."""
    try:
        fd = os.open(lock_path(index_path), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
