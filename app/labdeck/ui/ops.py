"""Operations off the GUI thread for a view or a dialog: one runner, one set of rules.

An ``OpRunner`` runs one operation at a time for its owner (a newer one may wait as the single
pending one); an ``OpGroup`` runs several at once (the Datasets view's list, previews and adds).
The operation gets a ``tasks.Task`` for progress and cancel; its result, or the
exception it raised, comes back on the GUI thread to the callback. An exception is also logged
with its traceback, never swallowed. A result whose runner was destroyed meanwhile (the
window closed) is dropped on the GUI thread: nothing reaches a deleted widget. Every thread is
tracked, and ``shutdown()`` (the main window's close) cancels the running tasks and joins them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal

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
_lock = threading.Lock()


def _gui_relay() -> _Relay:
    global _relay
    if _relay is None or not shiboken6.isValid(_relay):
        _relay = _Relay(QCoreApplication.instance())
    return _relay


def _start(name: str, fn: Callable[[Task], Any], task: Task, deliver: Callable[[Any], None]) -> threading.Thread:
    """``fn(task)`` on a tracked thread; ``deliver(result or exception)`` is called from that thread."""

    def work() -> None:
        try:
            result: Any = fn(task)
        except Cancelled as exc:
            result = exc  # asked for: no error
        except Exception as exc:  # noqa: BLE001 - logged here and handed to the callback
            log.error("%s failed", name, exc_info=exc)
            result = exc
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

    def _finished(self, callback: Callable[[Any], None], result: Any) -> None:
        self._op = None
        callback(result)
        if self._pending is not None and not self.busy:
            fn, cb = self._pending
            self._pending = None
            self.run(fn, cb)


def running() -> list[threading.Thread]:
    with _lock:
        return [t for t in _running if t.is_alive()]


def shutdown(timeout_s: float = 10.0) -> list[str]:
    """Cancel every running operation and wait for its thread; names of those still running."""
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
