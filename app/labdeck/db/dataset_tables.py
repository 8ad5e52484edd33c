"""Schema for datasets, their immutable versions, version files and the hash cache.

Tables here derive from `labdeck.db.catalogue_tables.Base`; `labdeck.db.schema` imports this
module so that migrations and the schema test see them. The file contents themselves live in
the content-addressed store (``labdeck.datasets.store``); these rows are for listing and queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from labdeck.db.catalogue_tables import Base


class Dataset(Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[int] = mapped_column(Integer)  # ms since the epoch
    rules: Mapped[str] = mapped_column(Text, default="{}")  # JSON validation rules
    strict: Mapped[bool] = mapped_column(Boolean, default=False)  # refuse versions that break a rule


class DatasetVersion(Base):
    """One immutable version: its manifest's hash, counts and where it was added from."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    source_path: Mapped[str] = mapped_column(Text, default="")
    file_count: Mapped[int] = mapped_column(Integer)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    # Set: this version's file rows are only its changes against that version (see
    # ``labdeck.db.dataset_version_files``). Not set: its rows are its whole file list.
    base_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)


class DatasetFile(Base):
    __tablename__ = "dataset_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)  # relative, '/'-separated
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    # In a delta version: this path, present in the base, is gone (digest is the base's).
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class DatasetHashCache(Base):
    """BLAKE3 of a file as last hashed, valid while (device, inode, size, mtime) are unchanged."""

    __tablename__ = "dataset_hash_cache"
    dev: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ino: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class RemovedDatasetVersion(Base):
    """A version that ``dataset rm`` removed: its number is never given out again, and what
    still records it (runs, model versions, jobs) can be told what happened to it.

    Keyed by the dataset's name, not its row: removing a whole dataset keeps these.
    """

    __tablename__ = "dataset_removed_versions"
    __table_args__ = (UniqueConstraint("dataset", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    removed_at: Mapped[int] = mapped_column(Integer)  # ms since the epoch
    forced: Mapped[bool] = mapped_column(Boolean, default=False)  # removed while in use (--force)
    users: Mapped[str] = mapped_column(Text, default="[]")  # JSON: who used it when it went
