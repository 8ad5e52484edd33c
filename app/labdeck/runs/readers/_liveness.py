"""Is a run still being written, and when did it start and last write? From file times.

Lightning's CSV logs, TensorBoard event files and the Hugging Face Trainer's output folders
have no end marker, so a run is ``running`` while one of its files was written within
``QUIET_PERIOD_S`` and stopped after that (each reader then says ``finished``, ``killed`` or
keeps what its format tells; the README's "Run status per format" table).

An event file's name also carries the host and the process id of its writer
(``events.out.tfevents.<time>.<host>.<pid>.<n>``): when every writer named is a process of
this host that no longer exists, the run is stopped once its files have been quiet for
``WRITER_GONE_GRACE_S`` instead of the whole quiet period. The grace keeps a writer in
another pid namespace with this host's name (a container) from being called stopped while
it still writes.

Why this needs no clock in the index: the index re-reads a source only when its fingerprint
changes, so each of these readers appends ``quiet_mark`` (``live`` / ``quiet``) to its
fingerprint. The first pass after a run falls quiet (the watcher's periodic full pass, every
30 s, or any ``labdeck index``) sees a new fingerprint, reads on from the cursor (nothing new
to parse) and stores the final status. A run that is quiet stays quiet: no further reads.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

# One constant for every format: long enough for a slow validation epoch or a checkpoint save
# between two writes, short enough that a stopped run is not shown running for long.
QUIET_PERIOD_S = 600.0

WRITER_GONE_GRACE_S = 30.0

_TFEVENTS_TIME = re.compile(r"tfevents\.(\d{9,11})\.")
_TFEVENTS_WRITER = re.compile(r"tfevents\.\d{9,11}\.(.+)\.(\d+)\.\d+(?:\.v2)?(?:\..*)?$")


def now() -> float:
    """Seconds since the epoch (tests replace it to age a run)."""
    return time.time()


def mtimes(paths: Iterable[Path]) -> list[float]:
    """Modification times (s) of the paths that exist."""
    out = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime)
        except OSError:
            continue
    return out


def is_live(newest_write_s: float | None, writers: Callable[[], Iterable[str]] | None = None) -> bool:
    """Written within the quiet period, and, past the grace, by a writer not known gone.
    ``writers`` gives the run's event file names (asked only past the grace: it may look
    at other folders)."""
    if newest_write_s is None:
        return False
    quiet_s = now() - newest_write_s
    if quiet_s >= QUIET_PERIOD_S:
        return False
    return quiet_s < WRITER_GONE_GRACE_S or writers is None or not writers_gone(writers())


def quiet_mark(paths: Iterable[Path], writers: Callable[[], Iterable[str]] | None = None) -> str:
    """``live`` or ``quiet``: appended to a fingerprint so that falling quiet is a change."""
    times = mtimes(paths)
    return "live" if is_live(max(times, default=None), writers) else "quiet"


def writers_gone(event_names: Iterable[str]) -> bool:
    """True when every event file names its writer as a process of this host that no longer
    exists; False when any writer lives, is on another host or is not named."""
    pids = [_writer_pid(name) for name in event_names]
    return bool(pids) and all(pid is not None and not _process_exists(pid) for pid in pids)


def _writer_pid(name: str) -> int | None:
    match = _TFEVENTS_WRITER.search(name)
    if match is None or match.group(1) != _hostname():
        return None
    return int(match.group(2))


@functools.cache
def _hostname() -> str:
    return socket.gethostname()


def _process_exists(pid: int) -> bool:
    if pid <= 0:
        return True  # not a process we can ask about
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, another user's (or the question cannot be asked here)
    return True


def tfevents_start_s(name: str) -> float | None:
    """The creation time an event file carries in its name (``events.out.tfevents.<time>.<host>...``)."""
    match = _TFEVENTS_TIME.search(name)
    return float(match.group(1)) if match else None


def files_in(folder: Path, *, depth: int = 1) -> list[Path]:
    """Files of ``folder`` and of its sub-folders down to ``depth`` levels (unreadable ones skipped)."""
    out: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    if entry.is_file():
                        out.append(Path(entry.path))
                    elif depth > 0 and entry.is_dir():
                        out.extend(files_in(Path(entry.path), depth=depth - 1))
                except OSError:
                    continue
    except OSError:
        pass
    return out


def time_span_ms(paths: Iterable[Path], starts_s: Iterable[float | None] = ()) -> tuple[int | None, int | None]:
    """(start, end) in ms: the earliest of the files' mtimes and the known start times, and the
    latest mtime. Rough for a start (files are rewritten), but never empty when a file exists."""
    times = mtimes(paths)
    known = [s for s in starts_s if s is not None]
    start = min(times + known, default=None)
    end = max(times, default=None)
    return (None if start is None else int(start * 1000)), (None if end is None else int(end * 1000))
