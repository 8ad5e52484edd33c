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
from labdeck.clock import now_ms
from labdeck.runs import native_format as fmt

RUN_DIR_ENV = "LABDECK_RUN_DIR"  # set by labdeck's launcher: the job's run folder


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


STAGING_GRACE_S = 60  # a live writer renames its staging folder within milliseconds


def _clear_dead_staging(own: Path) -> None:
    """Remove staging folders left by writers killed while they started a run (they hold no
    points): at once where the lock names a process gone, else once a minute older than our
    own (``own``, just made: ages are read on the file system's clock, which may not be ours)."""
    now = os.stat(own).st_mtime
    with os.scandir(own.parent) as entries:
        staged = [e.path for e in entries if fmt.is_staging(e.name) and e.name != own.name]
    for path in staged:
        try:
            dead = now - os.stat(path).st_mtime > STAGING_GRACE_S
            if not dead:
                with open(os.path.join(path, fmt.LOCK_FILE), encoding="utf-8") as f:
                    dead = fmt.lock_is_stale(f.read())
        except OSError:
            continue  # no lock yet: a writer that has just made it, or one that died (aged out)
        if dead:
            shutil.rmtree(path, ignore_errors=True)


def _dataset_store() -> Path:
    # Imported here: labdeck.paths needs platformdirs, and `import labdeck` stays stdlib-only.
    from labdeck.paths import data_dir

    return data_dir() / "datasets"


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
        run_id: str | None = None,
        extra_provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self.id = run_id or uuid.uuid4().hex
        self._attached = False
        self.project_dir = Path(project_dir).expanduser().resolve()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.dir = self.project_dir / fmt.RUNS_FOLDER / f"{stamp}-{self.id[:8]}"
        self.name = name or self.dir.name
        self.start_time = now_ms()
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
            "provenance": {**(provenance.collect() if record_provenance else {}), **(extra_provenance or {})},
        }
        # Staged only once the meta is known (provenance can take seconds): a staging folder
        # lives for milliseconds unless its writer died.
        staging = self.dir.with_name(fmt.staging_name(self.dir.name))
        staging.mkdir(parents=True)
        _clear_dead_staging(staging)
        try:
            (staging / fmt.LOCK_FILE).write_text(fmt.lock_text())
            (staging / fmt.METRICS_FILE).write_bytes(fmt.METRICS_HEADER)
            (staging / fmt.EVENTS_FILE).touch()
            _write_json_atomic(staging / fmt.META_FILE, meta)
            if self.dir.exists():  # rename would replace an empty folder; mkdir refused any
                raise FileExistsError(f"run folder {self.dir} exists")
            os.rename(staging, self.dir)  # the run appears whole: meta, lock and logs at once
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        flags = os.O_WRONLY | os.O_APPEND
        self._metrics_fd = os.open(self.dir / fmt.METRICS_FILE, flags)
        self._events_fd = os.open(self.dir / fmt.EVENTS_FILE, flags)

    @classmethod
    def attach(cls, run_dir: str | os.PathLike) -> Run:
        """Log into an existing run (a launched job's): append to its files, leave its lock alone."""
        self = cls.__new__(cls)
        self.dir = Path(run_dir).resolve()
        meta = json.loads((self.dir / fmt.META_FILE).read_text(encoding="utf-8"))
        self.id = meta["id"]
        self.name = meta.get("name") or self.dir.name
        self.project_dir = self.dir.parent.parent
        self.start_time = meta.get("start_time") or now_ms()
        self._auto_step = 0
        self._ended = False
        self._attached = True
        flags = os.O_WRONLY | os.O_APPEND  # never create: the launcher made these files
        self._metrics_fd = os.open(self.dir / fmt.METRICS_FILE, flags)
        self._events_fd = os.open(self.dir / fmt.EVENTS_FILE, flags)
        return self

    # Logging -------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (one more than the last auto step when omitted)."""
        self._check_open()
        if step is None:
            step = self._auto_step
        step = int(step)
        self._auto_step = step + 1
        wall = now_ms()
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

    def log_model(self, path: str | os.PathLike, name: str) -> Path:
        """Copy a model file or folder into ``artifacts/models/<name>/`` and record it as a model."""
        self._check_open()
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"model name {name!r}: a non-empty name without slashes")
        src = Path(path)
        if not src.exists():
            raise FileNotFoundError(f"no model file or folder at {src}")
        dest = self.dir / fmt.ARTIFACTS_FOLDER / "models" / name
        dest.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / src.name)
        self._event({"type": "model", "name": name, "path": dest.relative_to(self.dir).as_posix()})
        return dest

    def use_dataset(self, ref: str, context: str = "training") -> dict[str, Any]:
        """Record that this run reads dataset version ``"NAME:VERSION"`` (``"NAME"``: the latest).

        The version's hash comes from labdeck's dataset store, so the run names exact content.
        """
        self._check_open()
        import re

        name, _, version_text = str(ref).partition(":")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
            raise ValueError(f"bad dataset reference {ref!r}: expected NAME:VERSION, e.g. mnist:3")
        refs_file = _dataset_store() / "refs" / f"{name}.json"
        try:
            versions = json.loads(refs_file.read_text(encoding="utf-8"))["versions"]
        except (FileNotFoundError, NotADirectoryError, OSError, ValueError, KeyError):
            raise ValueError(f"unknown dataset {name!r}: add it first with `labdeck dataset add {name} PATH`") from None
        if not versions:
            raise ValueError(f"dataset {name!r} has no versions")
        if version_text in ("", "latest"):
            version_text = max(versions, key=int)
        if version_text not in versions:
            raise ValueError(
                f"dataset {name!r} has no version {version_text!r} (versions: {', '.join(sorted(versions, key=int))})"
            )
        event = {"type": "dataset", "name": name, "version": int(version_text), "digest": versions[version_text],
                 "context": str(context)}
        self._event(event)
        return event

    def record_outputs(self, runs: list[dict[str, str]]) -> None:
        """Note runs other loggers wrote (``{"format", "path"}``, paths inside this run's folder)."""
        self._event({"type": "outputs", "runs": [{"format": r["format"], "path": r["path"]} for r in runs]})

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
        if self._attached:
            return  # the launcher owns the lock and writes the job's own end event after this
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
        event["time"] = now_ms()
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
    """Start a native run under ``project_dir``; use it as a context manager.

    Inside a job launched by labdeck (``LABDECK_RUN_DIR`` set), this attaches to the job's
    run instead: ``project_dir`` and ``name`` are ignored, params and tags are added to it.
    """
    attach_dir = os.environ.get(RUN_DIR_ENV)
    if attach_dir:
        run = Run.attach(attach_dir)
        if params:
            run.log_params(params)
        if tags:
            run.set_tags(tags)
        return run
    return Run(
        project_dir,
        name=name,
        experiment=experiment,
        params=params,
        tags=tags,
        parent=parent,
        record_provenance=record_provenance,
    )


def seed_everything(seed: int | None = None) -> int:
    """Seed Python's ``random``, NumPy and PyTorch (when importable) and make PyTorch deterministic.

    ``seed`` defaults to ``$LABDECK_SEED`` (set by ``labdeck launch --seed``), else 0.
    Returns the seed used. Set ``CUBLAS_WORKSPACE_CONFIG`` before CUDA starts for
    deterministic cuBLAS; labdeck's launcher sets it for every job.
    """
    import random

    if seed is None:
        seed = int(os.environ.get("LABDECK_SEED", "0"))
    seed = int(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))  # for child processes; this one has hashed already
    random.seed(seed)
    try:
        import numpy as np  # noqa: PLC0415 - optional
    except ImportError:
        pass
    else:
        np.random.seed(seed % 2**32)
    try:
        import torch  # noqa: PLC0415 - optional
    except ImportError:
        pass
    else:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return seed
