"""Index passes and the watcher in a process of their own: the app's indexer.

Run in the app's own process, a pass shared the interpreter with the window. Python lets one
thread run at a time, and SQLite hands that turn back at every row it reads: each row a
window's read asked for then waited for the pass to give the turn back (up to 5 ms). While
a project was indexed, a page of the runs table took 60–400 ms instead of 12–35, and the
window froze for up to 390 ms while the pass loaded its readers. Here the pass runs beside
the window, not within it: it shares the index file (SQLite's locks, as any second labdeck
process does) and nothing else.

The app starts this module as a helper (``index_client.IndexProcess``) and talks to it over
two pipes, one JSON message per frame:

- requests: ``{"op": "index", "path": str | None}``, ``{"op": "watch", "polling": bool}``,
  ``{"op": "projects"}`` (the list of projects changed), ``{"op": "cancel"}`` (the pass under
  way) and ``{"op": "stop"}``;
- events: ``{"event": "progress", "done", "total", "message"}``, ``{"event": "finished",
  "stats": {...}}``, ``{"event": "failed", "error": str, "cancelled": bool}``,
  ``{"event": "watching"}`` and ``{"event": "changed"}`` (the watcher indexed something).

Requests run one at a time, in order; ``cancel`` and ``stop`` act at once on the pass under
way (it ends between two sources, keeping what it wrote). When the app goes away without a
word (its end of the pipe closes), the indexer stops as if told to.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from labdeck.db.engine import Database
    from labdeck.runs.watcher import Watcher
    from labdeck.tasks import Task

log = logging.getLogger(__name__)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode("utf-8")


def decode(frame: bytes) -> dict[str, Any]:
    return json.loads(frame.decode("utf-8"))


class _Indexer:
    """The indexer's side: requests in, events out."""

    def __init__(self, db: Database, requests: Connection, events: Connection) -> None:
        self.db = db
        self._requests = requests
        self._events = events
        self._send_lock = threading.Lock()  # progress, a pass's end and the watcher's news
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._task: Task | None = None  # the pass under way
        self._task_lock = threading.Lock()
        self._watcher: Watcher | None = None

    def send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            try:
                self._events.send_bytes(encode(message))
            except OSError:
                pass  # the app is gone: the next request read sees it and stops

    def listen(self) -> None:
        """Read requests (on its own thread): ``cancel`` and ``stop`` at once, others queued."""
        while True:
            try:
                request = decode(self._requests.recv_bytes())
            except (EOFError, OSError):
                request = {"op": "stop"}
            if request.get("op") in ("cancel", "stop"):
                with self._task_lock:
                    if self._task is not None:
                        self._task.cancel()
            if request.get("op") != "cancel":
                self._queue.put(request)
            if request.get("op") == "stop":
                return

    def serve(self) -> None:
        try:
            while True:
                request = self._queue.get()
                op = request.get("op")
                if op == "stop":
                    return
                if op == "index":
                    self._index(request.get("path"))
                elif op == "watch":
                    self._watch(bool(request.get("polling")))
                elif op == "projects" and self._watcher is not None:
                    self._watcher.refresh_projects()
        finally:
            if self._watcher is not None:
                self._watcher.stop()

    def _index(self, path: str | None) -> None:
        from labdeck.paths import normalise
        from labdeck.runs.indexer import index_all, index_project
        from labdeck.tasks import Cancelled, Task

        task = Task(lambda p: self.send({"event": "progress", "done": p.done, "total": p.total or 0,
                                         "message": p.message}))
        with self._task_lock:
            self._task = task
        try:
            stats = index_all(self.db, task) if path is None else index_project(self.db, normalise(path), task=task)
        except Cancelled:
            self.send({"event": "failed", "error": "cancelled", "cancelled": True})
        except Exception as exc:  # shown to the user; the traceback goes to the app's stderr
            log.exception("index pass failed")
            self.send({"event": "failed", "error": str(exc) or type(exc).__name__, "cancelled": False})
        else:
            self.send({"event": "finished", "stats": asdict(stats)})
        finally:
            with self._task_lock:
                self._task = None

    def _watch(self, polling: bool) -> None:
        if self._watcher is not None:
            self.send({"event": "watching"})
            return
        try:
            from labdeck.runs.watcher import Watcher

            watcher = Watcher(self.db, polling=polling, on_indexed=lambda _stats: self.send({"event": "changed"}))
            watcher.start()
        except Exception as exc:
            log.exception("the watcher did not start")
            self.send({"event": "failed", "error": f"the watcher did not start: {exc}", "cancelled": False})
            return
        self._watcher = watcher
        self.send({"event": "watching"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labdeck.runs.index_process", description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", required=True, help="the index file")
    parser.add_argument("--requests", type=int, required=True, help="the file descriptor requests come on")
    parser.add_argument("--events", type=int, required=True, help="the file descriptor events go to")
    args = parser.parse_args(argv)
    from multiprocessing.connection import Connection

    logging.basicConfig(level=logging.WARNING, format="labdeck indexer: %(levelname)s %(message)s")
    requests = Connection(args.requests, writable=False)
    events = Connection(args.events, readable=False)
    from labdeck.db.engine import Database
    from labdeck.runs import series_loaders  # noqa: F401 - as the app's workspace: points kept in a tool's store

    db = Database(Path(args.index))
    indexer = _Indexer(db, requests, events)
    threading.Thread(target=indexer.listen, name="labdeck-index-requests", daemon=True).start()
    try:
        indexer.serve()
    finally:
        db.close()
        events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
