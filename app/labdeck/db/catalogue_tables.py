"""The catalogue schema (projects, sources, runs and what hangs off them): typed SQLAlchemy 2 tables.

Rows never leave ``labdeck.db``; readers of the catalogue get the frozen dataclasses of
``labdeck.db.entities``. Metric points are stored as packed chunks (see ``series.py``):
one row per appended block of a series instead of one row per point, which measured
about ten times faster to write and read back than a row per point (``scripts/bench_index.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names let SQLite batch migrations find them again later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Base):
    """A watched folder."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    added_at: Mapped[int] = mapped_column(Integer)  # ms since the epoch
    scanned_at: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Source(Base):
    """One thing a reader reads: a native run folder, an MLflow store, an event-file folder.

    ``fingerprint`` is what the reader saw last time (sizes and mtimes); an equal
    fingerprint means the source is skipped without parsing. ``cursor`` is the reader's
    saved position (JSON) for reading on.
    """

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("project_id", "format", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(32))  # the reader's key (its module name)
    path: Mapped[str] = mapped_column(Text)  # relative to the project, '/'-separated
    fingerprint: Mapped[str] = mapped_column(Text, default="")
    cursor: Mapped[str] = mapped_column(Text, default="{}")
    indexed_at: Mapped[int] = mapped_column(Integer, default=0)
    # When a complete pass last found the source missing (ms); NULL while it is on disk.
    gone_at: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Run(Base):
    __tablename__ = "runs"
    # Keyed by source: two copies of one store hold the same tool run ids.
    __table_args__ = (
        UniqueConstraint("source_pk", "source_id"),
        # Only the runs that name a parent: the table's tree asks for them on every query.
        Index("ix_runs_parent_source_id", "parent_source_id", sqlite_where=text("parent_source_id IS NOT NULL")),
        # What the app lists when it opens, each read from its index alone (migration 0017):
        # the runs shown, newest first, and the runs of each named experiment.
        Index("ix_runs_listed_newest", "start_time", "pk", "deleted", "hidden", "gone_at",
              sqlite_where=text("deleted IS 0 AND hidden IS 0 AND gone_at IS NULL")),
        Index("ix_runs_experiments", "project_id", "experiment", "deleted", "gone_at",
              sqlite_where=text("deleted IS 0 AND gone_at IS NULL AND experiment != ''")),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True)  # labdeck's public run id
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    source_pk: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(Text, index=True)  # the tool's own run id
    experiment: Mapped[str] = mapped_column(Text, default="")
    name: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)  # the tool's own lifecycle (MLflow)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)  # hidden in labdeck only; files untouched
    parent_source_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_time: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)  # default order
    end_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    path: Mapped[str] = mapped_column(Text, default="")  # run folder relative to the project
    artifact_dir: Mapped[str | None] = mapped_column(Text, nullable=True)  # absolute, on this machine
    # The reader (source format) that serves this run's points from the tool's own store on
    # demand; NULL: they are copied into metric_chunks. Summaries are in ``metrics`` either way.
    series_source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[int] = mapped_column(Integer, default=0)
    # When its source (or the run within it) was last found missing by a complete pass (ms);
    # NULL while it is there. Gone runs keep their rows and keys, listed only with --all.
    gone_at: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RunProvenance(Base):
    """What a run recorded of its command, code and environment (JSON); none: no row. Kept
    apart from ``runs``, which every listing reads whole (migration 0015)."""

    __tablename__ = "run_provenance"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    provenance: Mapped[str] = mapped_column(Text)


class Param(Base):
    __tablename__ = "params"
    # Numeric filters and sorts; covering, so a filter reads no table rows (migration 0013).
    # Stored in (run_pk, key) order: a run's value is one search away (migration 0014).
    __table_args__ = (Index("ix_params_key_value_num_run", "key", "value_num", "run_pk"), {"sqlite_with_rowid": False})
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    # The value as a number when it reads as one, so that `params.lr < 0.01` compares numbers.
    value_num: Mapped[float | None] = mapped_column(Float, nullable=True)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = {"sqlite_with_rowid": False}  # in (run_pk, key) order (migration 0014)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricSummary(Base):
    """Per-run, per-key summary. ``last`` is the value at the greatest (step, wall time).

    SQLite stores NaN as NULL; a row exists only when count > 0, so a NULL value here
    means NaN (min/max are NaN only when every point is NaN).
    """

    __tablename__ = "metrics"
    # Covering: a metric's filter or column reads no table rows (migration 0013); stored in
    # (run_pk, key) order, a run's summary is one search away (migration 0014).
    __table_args__ = (Index("ix_metrics_key_last_run", "key", "last", "run_pk"), {"sqlite_with_rowid": False})
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    last: Mapped[float | None] = mapped_column(Float, nullable=True)
    min: Mapped[float | None] = mapped_column(Float, nullable=True)
    max: Mapped[float | None] = mapped_column(Float, nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_wall: Mapped[float | None] = mapped_column(Float, nullable=True)


class RunChange(Base):
    """The journal of runs whose listed values changed, filled by triggers (migration 0016):
    what lets the app's kept listings follow a commit by re-reading only those runs."""

    __tablename__ = "run_changes"
    __table_args__ = {"sqlite_autoincrement": True}  # never a seq given out twice
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(Integer)  # 0: every run


class MetricChunk(Base):
    """An appended block of one series: steps, values and wall times as packed arrays."""

    __tablename__ = "metric_chunks"
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    steps: Mapped[bytes] = mapped_column(LargeBinary)
    values: Mapped[bytes] = mapped_column(LargeBinary)
    walls: Mapped[bytes] = mapped_column(LargeBinary)


class IndexWarning(Base):
    """A specific problem met while indexing, attached to a run, a source or a project.

    Transient warnings describe the current state of a source (a half-written last line)
    and are replaced on every read of it; the others stay until the source is read anew.
    """

    __tablename__ = "warnings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    source_pk: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), nullable=True, index=True
    )
    run_pk: Mapped[int | None] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), nullable=True)
    path: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(String(48))
    message: Mapped[str] = mapped_column(Text)
    transient: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(Integer)


class RunInput(Base):
    """A dataset a run read (MLflow dataset inputs, labdeck dataset versions used by a run)."""

    __tablename__ = "run_inputs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str] = mapped_column(Text, default="")
    source_type: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    context: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON: schema, profile, tags


class RunModel(Base):
    """A model a run produced, as its tool recorded it (MLflow logged models, SDK models)."""

    __tablename__ = "run_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.pk", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(Text, default="")
    name: Mapped[str] = mapped_column(Text, default="")
    artifact_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON: model_type, created, tags, params, metrics


class SourceRegisteredModel(Base):
    """A model registry kept inside a source (an MLflow store's registered models), read-only."""

    __tablename__ = "source_registered_models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_pk: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON: description, tags, aliases, versions
