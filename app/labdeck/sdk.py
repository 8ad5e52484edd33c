"""The logging API training scripts use to write native labdeck runs.

    import labdeck
    with labdeck.start_run("~/projects/mnist", name="baseline", params={"lr": 0.01}) as run:
        for step in range(100):
            run.log({"loss": loss}, step=step)
        run.log_artifact("model.pt")

Standard library only; see ``labdeck.runs.native_format`` for the files written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from labdeck import provenance
from labdeck.runs import native_format as fmt


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # numpy / torch scalars expose .item(); anything else is a caller's mistake.
        item = getattr(value, "item", None)
        if callable(item):
            value = item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"metric {key!r}: expected a number, got {type(value).__name__}")
    return float(value)


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Run:
    """A native run being written. Use ``start_run``; the object is a context manager."""

    def __init__(
        self,
        project_dir: str | os.PathLike,
        *,
        name: str | None = None,
        experiment: str = "",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent: str | None = None,
        record_provenance: bool = True,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.project_dir = Path(project_dir).expanduser().resolve()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.dir = self.project_dir / fmt.RUNS_FOLDER / f"{stamp}-{self.id[:8]}"
        self.dir.mkdir(parents=True)
        self.name = name or self.dir.name
        self.start_time = _now_ms()
        self._auto_step = 0
        self._ended = False
        meta = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.FORMAT_VERSION,
            "id": self.id,
            "name": self.name,
            "experiment": experiment,
            "start_time": self.start_time,
            "parent": parent,
            "params": {str(k): str(v) for k, v in (params or {}).items()},
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "provenance": provenance.collect() if record_provenance else {},
        }
        (self.dir / fmt.LOCK_FILE).write_text(fmt.lock_text())
        _write_json_atomic(self.dir / fmt.META_FILE, meta)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self._metrics_fd = os.open(self.dir / fmt.METRICS_FILE, flags, 0o644)
        os.write(self._metrics_fd, fmt.METRICS_HEADER)
        self._events_fd = os.open(self.dir / fmt.EVENTS_FILE, flags, 0o644)

    # Logging -------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (one more than the last auto step when omitted)."""
        self._check_open()
        if step is None:
            step = self._auto_step
        step = int(step)
        self._auto_step = step + 1
        wall = _now_ms()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for key, value in metrics.items():
            writer.writerow([str(key), step, _format_value(_as_float(str(key), value)), wall])
        # One write of whole lines: a crash loses at most this call's points.
        os.write(self._metrics_fd, buf.getvalue().encode("utf-8"))

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._event({"type": "params", "params": {str(k): str(v) for k, v in params.items()}})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._event({"type": "tags", "tags": {str(k): str(v) for k, v in tags.items()}})

    def log_artifact(self, path: str | os.PathLike, name: str | None = None) -> Path:
        """Copy a file or folder into the run's ``artifacts/`` and record it."""
        self._check_open()
        src = Path(path)
        dest = self.dir / fmt.ARTIFACTS_FOLDER / (name or src.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
            size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        else:
            shutil.copy2(src, dest)
            size = dest.stat().st_size
        rel = dest.relative_to(self.dir).as_posix()
        self._event({"type": "artifact", "path": rel, "size": size, "source": str(src.resolve())})
        return dest

    def end(self, status: str = "finished", error: str | None = None) -> None:
        if self._ended:
            return
        if status not in fmt.END_STATUSES:
            raise ValueError(f"status must be one of {fmt.END_STATUSES}, not {status!r}")
        event: dict[str, Any] = {"type": "end", "status": status}
        if error:
            event["error"] = error
        self._event(event)
        self._ended = True
        for fd in (self._metrics_fd, self._events_fd):
            os.fsync(fd)
            os.close(fd)
        try:
            (self.dir / fmt.LOCK_FILE).unlink()
        except FileNotFoundError:
            pass

    # Context manager -----------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("killed", error="KeyboardInterrupt")
        else:
            self.end("failed", error=f"{exc_type.__name__}: {exc}")

    # Internals -----------------------------------------------------------

    def _event(self, event: dict[str, Any]) -> None:
        self._check_open()
        event["time"] = _now_ms()
        line = json.dumps(event, ensure_ascii=False, allow_nan=False) + "\n"
        os.write(self._events_fd, line.encode("utf-8"))

    def _check_open(self) -> None:
        if self._ended:
            raise RuntimeError(f"run {self.name} has ended")


def start_run(
    project_dir: str | os.PathLike,
    *,
    name: str | None = None,
    experiment: str = "",
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent: str | None = None,
    record_provenance: bool = True,
) -> Run:
    """Start a native run under ``project_dir``; use it as a context manager."""
    return Run(
        project_dir,
        name=name,
        experiment=experiment,
        params=params,
        tags=tags,
        parent=parent,
        record_provenance=record_provenance,
    )
