"""Schema for launched jobs (the persisted queue of ``labdeck.launch``).

Tables here derive from `labdeck.db.catalogue_tables.Base`; `labdeck.db.schema` imports this
module so that migrations and the schema test see them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labdeck.db.catalogue_tables import Base


class Job(Base):
    """One launch: what to run (``spec``, JSON), where it stands, and which process owns it.

    The runner process (``python -m labdeck.launch.runner``) owns a job once it exists;
    front ends only read these rows and ask for cancellation, so they can close and reopen.
    """

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued running succeeded failed cancelled
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    created_at: Mapped[int] = mapped_column(Integer)  # ms since the epoch
    started_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ended_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    executor: Mapped[str] = mapped_column(String(32), default="local")
    project: Mapped[str] = mapped_column(Text)
    command: Mapped[str] = mapped_column(Text)  # JSON list of arguments
    spec: Mapped[str] = mapped_column(Text, default="{}")  # JSON: code, env, gpus, seed, datasets
    gpus: Mapped[str] = mapped_column(Text, default="")  # assigned GPU UUIDs, comma-separated
    run_id: Mapped[str] = mapped_column(Text, default="")
    run_dir: Mapped[str] = mapped_column(Text, default="")
    work_dir: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str] = mapped_column(Text, default="")
    runner_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pgid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
