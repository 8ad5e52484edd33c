"""Model versions, approval log and registry pushes.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_pk", sa.Integer, nullable=True),
        sa.Column("run_uid", sa.String(16), nullable=False),
        sa.Column("run_hash", sa.Text, nullable=False),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model_format", sa.String(32), nullable=False),
        sa.Column("artifact_hash", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("datasets", sa.Text, nullable=False),
        sa.Column("registered_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="SET NULL", name="fk_model_versions_run_pk_runs"),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name"),
    )
    op.create_index("ix_model_versions_run_pk", "model_versions", ["run_pk"])
    op.create_table(
        "model_heads",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_model_heads"),
    )
    op.create_table(
        "approval_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_name", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("time", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("artifact_hash", sa.Text, nullable=False),
        sa.Column("card_hash", sa.Text, nullable=False),
        sa.Column("run_hash", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("entry_hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval_events"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_approval_events_version_id_model_versions"
        ),
        sa.UniqueConstraint("model_name", "seq", name="uq_approval_events_model_name"),
    )
    op.create_index("ix_approval_events_version_id", "approval_events", ["version_id"])
    # Append-only at the database level too; the hash chain catches whoever drops these.
    op.execute(
        "CREATE TRIGGER approval_events_no_update BEFORE UPDATE ON approval_events "
        "BEGIN SELECT RAISE(ABORT, 'approval_events is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER approval_events_no_delete BEFORE DELETE ON approval_events "
        "BEGIN SELECT RAISE(ABORT, 'approval_events is append-only'); END"
    )
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("added_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registries"),
        sa.UniqueConstraint("name", name="uq_registries_name"),
    )
    op.create_table(
        "registry_pushes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("registry_name", sa.Text, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("remote_version", sa.Text, nullable=False),
        sa.Column("artifact_hash", sa.Text, nullable=False),
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("pushed_by", sa.Text, nullable=False),
        sa.Column("pushed_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_pushes"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_registry_pushes_version_id_model_versions"
        ),
        sa.UniqueConstraint("version_id", "registry_name", name="uq_registry_pushes_version_id"),
    )
    op.create_index("ix_registry_pushes_version_id", "registry_pushes", ["version_id"])


def downgrade() -> None:
    op.drop_table("registry_pushes")
    op.drop_table("registries")
    op.execute("DROP TRIGGER IF EXISTS approval_events_no_update")
    op.execute("DROP TRIGGER IF EXISTS approval_events_no_delete")
    op.drop_table("approval_events")
    op.drop_table("model_heads")
    op.drop_table("model_versions")
