"""The app's side of the indexer process (``runs.index_process``): starting it, asking it,
hearing from it, and stopping it.

The process starts at the first request, so a window that never indexes never starts one.
Events are handed to ``on_event`` on a thread of this class's own (the app posts them to its
GUI thread). When the process ends without being told to (killed, crashed), ``on_event``
gets ``{"event": "gone", "code": exit code, "pid": its pid, "reason": the last line it wrote
to stderr}`` and the next request starts a new one: a pass cut short that way loses nothing
(its sources are read again from their last stored state).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labdeck.helpers import helper_command, helper_cwd, helper_env
from labdeck.runs.index_process import decode, encode

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

log = logging.getLogger(__name__)

MODULE = "labdeck.runs.index_process"
STDERR_KEPT = 20  # the indexer's last lines of stderr kept, to say why it ended
STOP_WAIT_S = 15.0  # a pass ends between two sources; a watcher joins its threads


class IndexProcess:
    def __init__(self, index: Path, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.index = Path(index).resolve()
        self._on_event = on_event
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._requests: Connection | None = None
        self._listener: threading.Thread | None = None
        self._stopping = False
        self.started_at = 0.0  # time.monotonic() when the running indexer was started

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    def send(self, request: dict[str, Any]) -> None:
        """Ask the indexer (started now if it is not running)."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._requests is not None
            try:
                self._requests.send_bytes(encode(request))
            except OSError:
                log.warning("the indexer process did not take the request %s", request)

    def _start(self) -> None:
        from multiprocessing.connection import Connection  # here: 17 ms of imports the window opens without

        self._reap()
        requests_read, requests_write = os.pipe()
        events_read, events_write = os.pipe()
        try:
            process = subprocess.Popen(
                helper_command(MODULE, "--index", str(self.index), "--requests", str(requests_read),
                               "--events", str(events_write)),
                pass_fds=(requests_read, events_write), cwd=helper_cwd(), env=helper_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except BaseException:
            for fd in (requests_read, requests_write, events_read, events_write):
                os.close(fd)
            raise
        os.close(requests_read)  # the indexer's ends: its own now
        os.close(events_write)
        self._process = process
        self.started_at = time.monotonic()
        self._requests = Connection(requests_write, readable=False)
        events = Connection(events_read, writable=False)
        self._stopping = False
        said: deque[str] = deque(maxlen=STDERR_KEPT)
        relay = threading.Thread(target=_relay_stderr, args=(process, said), name="labdeck-index-stderr", daemon=True)
        relay.start()
        self._listener = threading.Thread(target=self._listen, args=(process, events, relay, said),
                                          name="labdeck-index-events", daemon=True)
        self._listener.start()

    def _listen(self, process: subprocess.Popen, events: Connection, relay: threading.Thread,
                said: deque[str]) -> None:
        try:
            while True:
                try:
                    event = decode(events.recv_bytes())
                except (EOFError, OSError):
                    break
                self._on_event(event)
        finally:
            events.close()
        code = process.wait()
        relay.join()  # the process's last words are all read
        if not self._stopping:
            reason = next((line for line in reversed(said) if line.strip()), "")
            log.warning("the indexer process ended unexpectedly (exit code %s): %s", code, reason)
            self._on_event({"event": "gone", "code": code, "pid": process.pid, "reason": reason})

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Stop the indexer (its pass under way cancelled) and wait for it and its listener."""
        with self._lock:
            process, listener = self._process, self._listener
            if process is None:
                return
            self._stopping = True
            try:
                assert self._requests is not None
                self._requests.send_bytes(encode({"op": "stop"}))
            except OSError:
                pass  # gone already
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("the indexer process did not stop within %.0f s: killed", timeout_s)
                process.kill()  # safe for the index: every write is a transaction
                process.wait()
            if listener is not None:
                listener.join()
            self._reap()

    def _reap(self) -> None:
        if self._requests is not None:
            self._requests.close()
        self._process = self._requests = self._listener = None


def _relay_stderr(process: subprocess.Popen, said: deque[str]) -> None:
    """The indexer's stderr, passed on to the app's (where the user started it from a shell)
    and its last lines kept (the reason an indexer that died is shown with)."""
    assert process.stderr is not None
    with process.stderr:
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            said.append(line)
            try:
                sys.stderr.write(line + "\n")
            except (OSError, ValueError, AttributeError):
                pass  # no stderr here (a desktop launcher): kept above all the same
