"""Work off the GUI thread: the app's one way to run it within its process, with one set of
rules. (Index passes and the watcher run in a process of their own: ``ui/indexing.py``.)

Three shapes of the same thing:
- ``OpRunner``: one operation at a time for its owner (a newer one may wait as the single
  pending one): a view's action, a dialog's save, opening an index that must be upgraded.
- ``OpGroup``: several at once for one owner (the Datasets view's list, previews and adds).
- ``ReadChannels``: the Runs tab's many short reads on a small pool; each names a channel,
  and a newer read on a channel makes the older one stale (start-cancels-previous, as in
  Orange's ConcurrentMixin): its task is cancelled and its result dropped.

The work gets a ``tasks.Task`` for progress and cancel; its result, or the exception it
raised, comes back on the GUI thread through one relay. An exception is logged with its
traceback (a ``UserError``, the user's to fix, with its message), never swallowed. A result
whose owner was destroyed meanwhile (the window closed) is dropped on the GUI thread: nothing
reaches a deleted widget. Every thread is tracked, and ``shutdown()`` (the main window's
close) cancels the running tasks and joins every thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal

from labdeck.errors import UserError
from labdeck.tasks import Cancelled, Task

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives as long as the application, on the GUI thread: workers post to it, never to a widget."""

    posted = Signal(object)

    def __init__(self, parent: QObject | None) -> None:
        super().__init__(parent)
        self.posted.connect(lambda call: call())


_relay: _Relay | None = None
_running: dict[threading.Thread, Task] = {}
_pools: weakref.WeakSet[ReadChannels] = weakref.WeakSet()
_lock = threading.Lock()


def _gui_relay() -> _Relay:
    global _relay
    if _relay is None or not shiboken6.isValid(_relay):
        _relay = _Relay(QCoreApplication.instance())
    return _relay


def poster(owner: QObject) -> Callable[[Callable[[], None]], None]:
    """A function that any thread may call with a callable to run it on the GUI thread, unless
    ``owner`` is gone by then (for threads of labdeck's own, such as the folder watcher's).
    Ask for it on the GUI thread."""
    relay = _gui_relay()

    def post(call: Callable[[], None]) -> None:
        relay.posted.emit(lambda: call() if shiboken6.isValid(owner) else None)

    return post


def _outcome(name: str, fn: Callable[[Task], Any], task: Task) -> Any:
    """``fn(task)``'s result, or the exception it raised, logged (a cancel is no error)."""
    try:
        return fn(task)
    except Cancelled as exc:
        return exc  # asked for: no error
    except UserError as exc:
        log.warning("%s: %s", name, exc)  # the user's to fix: the message says what
        return exc
    except Exception as exc:  # noqa: BLE001 - logged here and handed to the callback
        log.error("%s failed", name, exc_info=exc)
        return exc


def _start(name: str, fn: Callable[[Task], Any], task: Task, deliver: Callable[[Any], None]) -> threading.Thread:
    """``fn(task)`` on a tracked thread; ``deliver(result or exception)`` is called from that thread."""

    def work() -> None:
        try:
            result = _outcome(name, fn, task)
        finally:
            with _lock:
                _running.pop(threading.current_thread(), None)
        deliver(result)

    thread = threading.Thread(target=work, name=f"labdeck-op-{name}")
    with _lock:
        _running[thread] = task
    thread.start()
    return thread


class Op(QObject):
    """One operation of an ``OpGroup``: its task (to cancel) and its progress."""

    progressed = Signal(int, int, str)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.task: Task | None = None
        self.thread: threading.Thread | None = None


class OpGroup(QObject):
    """Several operations at once for one owner; busy while any runs.

    ``shutdown()`` (the owner closing, or the application quitting) cancels them, waits for
    their threads and drops their results, even those already queued for the GUI thread.
    """

    busy_changed = Signal(bool)

    def __init__(self, owner: QObject | None, name: str) -> None:
        super().__init__(owner)
        self.name = name
        self._ops: dict[Op, Callable[[Any], None]] = {}
        self._closed = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def busy(self) -> bool:
        return bool(self._ops)

    def start(self, fn: Callable[[Task], Any], on_done: Callable[[Any], None]) -> Op:
        """Run ``fn(task)``; ``on_done(result or exception)`` follows on the GUI thread."""
        op = Op(self)
        relay = _gui_relay()
        op.task = Task(lambda p: relay.posted.emit(lambda: self._progress(op, p.done, p.total or 0, p.message)))
        self._ops[op] = on_done
        if len(self._ops) == 1:
            self.busy_changed.emit(True)
        op.thread = _start(self.name, fn, op.task, lambda result: relay.posted.emit(lambda: self._done(op, result)))
        return op

    def _progress(self, op: Op, done: int, total: int, message: str) -> None:
        if shiboken6.isValid(self) and op in self._ops:
            op.progressed.emit(done, total, message)

    def _done(self, op: Op, result: Any) -> None:
        if not shiboken6.isValid(self) or self._closed:
            return  # the owner is closing or gone: the result goes nowhere
        on_done = self._ops.pop(op, None)
        if on_done is None:
            return
        op.deleteLater()
        if not self._ops:
            self.busy_changed.emit(False)
        on_done(result)

    def cancel_all(self) -> None:
        for op in self._ops:
            if op.task is not None:
                op.task.cancel()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        if not shiboken6.isValid(self):
            return
        self._closed = True
        self.cancel_all()
        for op in list(self._ops):
            if op.thread is not None:
                op.thread.join(timeout_s)
        self._ops.clear()


class OpRunner(QObject):
    """One operation at a time for its owner: an ``OpGroup`` that holds one, plus a pending slot."""

    progressed = Signal(int, int, str)  # done, total (0: unknown), message

    def __init__(self, owner: QObject, name: str) -> None:
        super().__init__(owner)
        self._group = OpGroup(self, name)
        self._op: Op | None = None
        self._pending: tuple[Callable[[Task], Any], Callable[[Any], None]] | None = None

    @property
    def busy(self) -> bool:
        return self._group.busy

    @property
    def task(self) -> Task | None:
        return self._op.task if self._op is not None else None

    def run(self, fn: Callable[[Task], Any], callback: Callable[[Any], None], *, queue: bool = False) -> bool:
        """Start ``fn(task)``; ``callback(result or exception)`` follows on the GUI thread.

        While another operation runs, ``queue`` keeps this one as the single pending one (a
        newer one replaces it) and returns False; without it the call is refused (False).
        """
        if self.busy:
            if queue:
                self._pending = (fn, callback)
            return False
        self._op = self._group.start(fn, lambda result: self._finished(callback, result))
        self._op.progressed.connect(self.progressed)
        return True

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def shutdown(self) -> None:
        """Drop what is pending, cancel what runs and wait for it."""
        self._pending = None
        self._group.shutdown()

    def _finished(self, callback: Callable[[Any], None], result: Any) -> None:
        self._op = None
        callback(result)
        if self._pending is not None and not self.busy:
            fn, cb = self._pending
            self._pending = None
            self.run(fn, cb)


class ReadChannels(QObject):
    """Short reads on a small pool, by channel: ``submit("query", fn, on_result)`` runs ``fn()``
    and calls ``on_result(value)`` on the GUI thread, unless a newer submission on "query"
    came meanwhile. Failures go to ``on_error``, or to ``failed`` (the status bar)."""

    failed = Signal(str, str)  # channel, message: shown in the status bar, never lost
    idle_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, workers: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labdeck-read")
        # Work nobody waits for (``lowly``): one thread the system runs after everything else,
        # so on a busy machine it takes no time from the GUI thread or the user's reads.
        self._low_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labdeck-read-low",
                                            initializer=_lower_this_threads_priority)
        # Reads the user waits for, submitted and not finished (counted from any thread):
        # lowly work waits until there are none, before it starts and between its steps.
        self._waited_on = 0
        self._waited_lock = threading.Lock()
        self._quiet = threading.Event()
        self._quiet.set()
        self._tokens: dict[str, int] = {}
        self._tasks: dict[str, Task] = {}  # channel -> its latest submission's task
        self._pending = 0
        self._pending_on: Counter[str] = Counter()
        self._closed = False
        self._relay = _gui_relay()
        _pools.add(self)

    @property
    def idle(self) -> bool:
        return self._pending == 0

    def idle_but(self, channel: str) -> bool:
        """Nothing is under way but reads on ``channel`` (work the user does not wait for)."""
        return self._pending == self._pending_on[channel]

    def quiet(self, timeout_s: float = 2.0) -> bool:
        """For lowly work, between its steps: wait until no read the user waits for is under
        way (at most ``timeout_s``, so that it is never put off for good)."""
        return self._quiet.wait(timeout_s)

    def _waited(self, change: int) -> None:
        with self._waited_lock:
            self._waited_on += change
            if self._waited_on:
                self._quiet.clear()
            else:
                self._quiet.set()

    def submit(
        self,
        channel: str,
        fn: Callable[[], Any],
        on_result: Callable[[Any], None],
        *,
        on_error: Callable[[Exception], None] | None = None,
        exclusive: bool = True,
        lowly: bool = False,
    ) -> int:
        """Run ``fn()`` in a worker; ``on_result(value)`` follows on the GUI thread.

        With ``exclusive`` (the default) an earlier, still-running submission on the same
        channel is superseded: its task is cancelled and its result discarded. ``lowly``: work
        the user does not wait for, run on a thread of the lowest priority.
        """
        if self._closed:
            return 0
        token = self._tokens.get(channel, 0) + (1 if exclusive else 0)
        self._tokens[channel] = token
        task = Task()
        if exclusive and channel in self._tasks:
            self._tasks[channel].cancel()
        self._tasks[channel] = task
        self._pending += 1
        self._pending_on[channel] += 1
        if self._pending == 1:
            self.idle_changed.emit(False)

        if not lowly:
            self._waited(+1)

        def job() -> None:
            try:
                if lowly:
                    self.quiet()
                if task.cancelled:  # superseded before it started: nothing to read
                    result: Any = Cancelled()
                else:
                    result = _outcome(f"read {channel}", lambda _task: fn(), task)
            finally:
                if not lowly:
                    self._waited(-1)
            self._relay.posted.emit(lambda: self._deliver(channel, token, result, on_result, on_error))

        (self._low_pool if lowly else self._pool).submit(job)
        return token

    def invalidate(self, channel: str) -> None:
        """Make every submission still running on ``channel`` stale."""
        self._tokens[channel] = self._tokens.get(channel, 0) + 1
        if channel in self._tasks:
            self._tasks.pop(channel).cancel()

    def _deliver(self, channel: str, token: int, result: Any,
                 on_result: Callable[[Any], None], on_error: Callable[[Exception], None] | None) -> None:
        if not shiboken6.isValid(self):
            return  # the window is gone
        self._pending -= 1
        self._pending_on[channel] -= 1
        if self._pending == 0:
            self.idle_changed.emit(True)
        if self._closed or token != self._tokens.get(channel) or isinstance(result, Cancelled):
            return  # superseded by a newer request on this channel
        if isinstance(result, Exception):
            if on_error is not None:
                on_error(result)
            else:
                self.failed.emit(channel, str(result))
            return
        on_result(result)

    def shutdown(self) -> None:
        """Cancel what is queued and wait for the reads under way; later results are dropped."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks.values():
            task.cancel()
        self._quiet.set()  # lowly work waiting for quiet goes on now, to find itself cancelled
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._low_pool.shutdown(wait=True, cancel_futures=True)


def _lower_this_threads_priority() -> None:
    """Linux schedules threads on their own: a thread may lower its own priority (raising it
    back would need privileges, so a thread lowered is used for such work only). Elsewhere a
    thread's id is no process id, so nothing is asked: an ordinary thread."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except OSError:
        pass


def running() -> list[threading.Thread]:
    with _lock:
        return [t for t in _running if t.is_alive()]


def shutdown(timeout_s: float = 10.0) -> list[str]:
    """Cancel every running operation and wait for its thread, and every read pool's;
    names of those still running."""
    for pool in list(_pools):
        if shiboken6.isValid(pool):
            pool.shutdown()
    with _lock:
        work = list(_running.items())
    for _, task in work:
        task.cancel()
    for thread, _ in work:
        thread.join(timeout_s)
    late = [t.name for t, _ in work if t.is_alive()]
    if late:
        log.warning("still running at close: %s", ", ".join(late))
    return late
