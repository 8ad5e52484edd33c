"""The one interface every run reader implements.

A reader knows one on-disk format. The indexer walks a project folder and asks each reader
to ``detect`` sources in every directory it visits. A *source* is the unit a reader reads:
a native run folder, an MLflow store (many runs), a TensorBoard run directory. For each
source the indexer compares ``fingerprint`` with what it saw last time and, only if it
changed, calls ``read_on`` with the cursor the reader returned last time (``None`` the
first time, or after the reader asked for a fresh start). The reader returns what is new
since that cursor plus a new cursor; it never writes anywhere and never imports or
unpickles user files.

Adding a format is one new module in this package that defines ``READER``.
"""

from __future__ import annotations

import functools
import os
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np

# Statuses a run may have in the index (the JSON of a run uses these words).
STATUSES = ("running", "finished", "failed", "killed", "scheduled", "unknown")


@dataclass(frozen=True)
class SourceRef:
    """Where a source lives: ``path`` is absolute, ``rel`` is relative to the project ('/'-separated)."""

    format: str
    path: Path
    rel: str
    # The folder's entry names as the walk listed them, where a reader keeps them: they
    # spare its fingerprint a system call for each file the listing shows absent.
    names: frozenset[str] | None = field(default=None, compare=False, repr=False)


@dataclass
class Points:
    """New points of one metric, in the order they were logged."""

    steps: np.ndarray  # int64
    values: np.ndarray  # float64 (NaN and ±inf allowed)
    walls: np.ndarray  # float64, milliseconds since the epoch

    def __post_init__(self) -> None:
        import numpy as np  # here, not with the module: a CLI verb that only lists runs never loads numpy

        self.steps = np.asarray(self.steps, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64)
        self.walls = np.asarray(self.walls, dtype=np.float64)
        if not (len(self.steps) == len(self.values) == len(self.walls)):
            raise ValueError("steps, values and walls must have the same length")

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class ReadWarning:
    """A specific problem; ``transient`` ones describe the present state of a file being written."""

    code: str
    message: str
    path: str = ""  # relative to the project
    transient: bool = False


# Columns of a run a reader may set through ``RunRecord.meta``.
RUN_FIELDS = (
    "experiment",
    "name",
    "status",
    "deleted",
    "parent_source_id",
    "start_time",
    "end_time",
    "path",
    "provenance",  # a JSON-able dict: argv, cwd, git, python, packages, host, GPUs
    "series_source",  # the reader key that serves the points on demand (see ``summaries``)
)


@dataclass
class RunRecord:
    """What is new about one run since the cursor.

    ``meta`` holds only run columns (``RUN_FIELDS``) to set; absent keys stay as they are.
    ``params`` and ``tags`` are upserted (``replace_params``/``replace_tags`` drop the old
    ones first). ``points`` are appended to the stored series, or replace them when
    ``replace_series`` is true (a rewritten file).
    """

    source_id: str
    meta: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: dict[str, Points] = field(default_factory=dict)
    replace_params: bool = False
    replace_tags: bool = False
    replace_series: bool = False
    warnings: list[ReadWarning] = field(default_factory=list)
    # Where the run's artifacts are on this machine (absolute), when the format has them.
    artifact_dir: str | None = None
    # Datasets the run read: dicts with keys name, digest, source_type, source, schema,
    # profile, context (e.g. "training"), tags (dict). Replaces what was stored when not None.
    inputs: list[dict[str, Any]] | None = None
    # Models the run produced: dicts with keys model_id, name, artifact_path (absolute or
    # None), step, status, model_type, created (ms), tags (dict), params (dict),
    # metrics (list of {key, value, step, timestamp, dataset_name, dataset_digest}).
    # Replaces what was stored when not None.
    models: list[dict[str, Any]] | None = None
    # Series whose points stay in the source (``meta["series_source"]`` names the reader
    # that loads them on demand): {key: {last, min, max, count, last_step, last_wall}},
    # replacing the stored summaries of those keys. ``points`` is then left empty.
    summaries: dict[str, dict[str, Any]] | None = None
    # The summaries cover only points new since the cursor: fold them into the stored ones.
    fold_summaries: bool = False


@dataclass
class ReadResult:
    """The answer of ``read_on``.

    ``complete`` means ``runs`` lists every run the source holds (a read from the start):
    the indexer then drops runs of this source that are no longer there.
    ``warnings`` are about the source as a whole.
    """

    runs: list[RunRecord]
    cursor: dict[str, Any]
    warnings: list[ReadWarning] = field(default_factory=list)
    complete: bool = False
    # A model registry kept in the source (MLflow): dicts with keys name, description, tags,
    # aliases ({alias: version}), created (ms), versions (list of {version (str), source,
    # run_source_id, model_id, status, stage, aliases, tags, description, created}).
    # Replaces the source's registry when not None.
    registered_models: list[dict[str, Any]] | None = None
    # New points this read made available without copying them (``RunRecord.summaries``).
    points_in_source: int = 0


@dataclass
class Detection:
    """Sources found in one directory, and which sub-directories the walk must not enter.

    ``prune`` names sub-directories this reader owns (an ``mlruns`` store, say); ``only``,
    where given, names the only sub-directories the walk may enter; ``claim_all`` stops the
    walk below this directory altogether; ``exclusive`` keeps the other readers from looking
    at this directory's own files while the walk goes on below it (a native run holds a
    metrics.csv, and may hold other tools' runs in outputs/).
    """

    sources: list[SourceRef] = field(default_factory=list)
    prune: frozenset[str] = frozenset()
    only: frozenset[str] | None = None
    claim_all: bool = False
    exclusive: bool = False


class ReaderFailed(RuntimeError):
    """A reader raised: the original error, described in text the index can store."""


class Reader(ABC):
    """One on-disk run format.

    Every subclass's ``read_on`` is wrapped (``__init_subclass__``) so that what it returns
    is coerced to values the index can store (``_clean``), whatever the files held."""

    format: ClassVar[str]
    key: str = ""  # set on discovery: the module name, unique among readers
    # Whether ``detect`` decides from the folder's path and names alone, reading no file:
    # the walk then keeps its answer for a folder whose listing has not changed.
    detects_by_names: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        raw = cls.__dict__.get("read_on")
        if raw is not None and not getattr(raw, "_cleans", False):
            cls.read_on = _cleaning(raw)  # type: ignore[method-assign]

    @abstractmethod
    def detect(self, folder: Path, names: frozenset[str], rel: str) -> Detection | None:
        """Sources in ``folder`` (whose entries are ``names``; ``rel`` is the folder relative
        to the project, '' for the project itself), or None. Called for every directory the
        walk visits, so it must decide from the names, touching the disk only when a name
        already matched."""

    @abstractmethod
    def fingerprint(self, source: SourceRef) -> str:
        """A cheap summary of the source's files (sizes, mtimes) that changes when they change."""

    @abstractmethod
    def read_on(self, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        """What is new since ``cursor`` (everything when it is None)."""

    def read(self, source: SourceRef) -> ReadResult:
        """Everything the source holds."""
        return self.read_on(source, None)

    def reads_aside(self, source: SourceRef) -> bool:
        """Whether the source is worth reading on a worker thread (runs/read_ahead.py): the
        reader keeps no state between reads, and most of this read runs without Python's
        lock. None does by default."""
        return False


def _cleaning(raw: Any) -> Any:
    @functools.wraps(raw)
    def read_on(self: Reader, source: SourceRef, cursor: dict[str, Any] | None) -> ReadResult:
        from labdeck.runs.readers._clean import clean_result, text

        try:
            result = raw(self, source, cursor)
        except Exception as exc:
            # The indexer turns this into a warning; its text must be storable too.
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise ReaderFailed(
                f"{type(exc).__name__}: {text(exc)} (at {Path(where.filename).name}:{where.lineno})"
            ) from exc
        return clean_result(result, source.rel)

    read_on._cleans = True  # type: ignore[attr-defined]
    return read_on


def stat_fingerprint(paths: list[Path] | list[str]) -> str:
    """Sizes and mtimes of ``paths`` (missing files included as '-'): the usual fingerprint."""
    return "|".join(map(stat_sig, paths))


def stat_sig(path: Path | str) -> str:
    """One file's size and mtime, '-' where it cannot be stated."""
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def relpath(path: Path, project: Path) -> str:
    """``path`` relative to ``project``, '/'-separated ('' for the project itself)."""
    rel = os.path.relpath(path, project)
    return "" if rel == "." else rel.replace(os.sep, "/")
