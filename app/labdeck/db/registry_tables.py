"""Schema for model versions, the approval log, registries and registry pushes.

Tables here derive from `labdeck.db.catalogue_tables.Base`; `labdeck.db.schema` imports this
module so that migrations and the schema test see them. Nothing here is ever deleted:
a model version outlives its run (``run_uid`` keeps the link when the run leaves the
index), and ``approval_events`` is append-only (SQLite triggers refuse UPDATE/DELETE;
the hash chain catches whoever drops them).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from labdeck.db.catalogue_tables import Base


class ModelVersion(Base):
    """Version ``version`` of model ``name``: an artifact bound to its content hash."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    run_pk: Mapped[int | None] = mapped_column(
        ForeignKey("runs.pk", ondelete="SET NULL"), nullable=True, index=True
    )
    run_uid: Mapped[str] = mapped_column(String(16))
    run_hash: Mapped[str] = mapped_column(Text)
    project: Mapped[str] = mapped_column(Text)  # the run's project folder (where the policy file lives)
    path: Mapped[str] = mapped_column(Text)  # absolute path of the artifact on this machine
    kind: Mapped[str] = mapped_column(String(16))  # file | folder
    model_format: Mapped[str] = mapped_column(String(32))  # mlflow | hf | safetensors | pt | onnx | ...
    artifact_hash: Mapped[str] = mapped_column(Text)  # "<algo>:<hex>"
    size: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[str] = mapped_column(Text)  # JSON [[path, size, hash], ...]; one entry for a file
    metrics: Mapped[str] = mapped_column(Text)  # JSON {key: last value} at registration
    datasets: Mapped[str] = mapped_column(Text)  # JSON [{name, digest, source_type, source, context}]
    registered_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(Integer)


class ModelHead(Base):
    """The newest entry of a model's approval chain: removing the last entry shows here."""

    __tablename__ = "model_heads"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(Text)


class ApprovalEvent(Base):
    """One state transition of a model version, chained to the previous entry of the same model."""

    __tablename__ = "approval_events"
    __table_args__ = (UniqueConstraint("model_name", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per model name
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(Text)
    time: Mapped[int] = mapped_column(Integer)  # ms since the epoch
    comment: Mapped[str] = mapped_column(Text)
    artifact_hash: Mapped[str] = mapped_column(Text)
    card_hash: Mapped[str] = mapped_column(Text)
    run_hash: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(Text)
    entry_hash: Mapped[str] = mapped_column(Text)


class Registry(Base):
    """A shared registry by the user's name for it; credentials never live here."""

    __tablename__ = "registries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    uri: Mapped[str] = mapped_column(Text)
    added_at: Mapped[int] = mapped_column(Integer)


class RegistryPush(Base):
    """A version pushed to a registry: where, when, by whom, and the registry's version id."""

    __tablename__ = "registry_pushes"
    __table_args__ = (UniqueConstraint("version_id", "registry_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    registry_name: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    remote_version: Mapped[str] = mapped_column(Text)
    artifact_hash: Mapped[str] = mapped_column(Text)
    alias: Mapped[str] = mapped_column(Text)
    pushed_by: Mapped[str] = mapped_column(Text)
    pushed_at: Mapped[int] = mapped_column(Integer)
