"""Indexing warnings, and an index for filtering runs on a metric's last value.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "warnings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("source_pk", sa.Integer, nullable=True),
        sa.Column("run_pk", sa.Integer, nullable=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("transient", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_warnings"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], ondelete="CASCADE", name="fk_warnings_project_id_projects"
        ),
        sa.ForeignKeyConstraint(
            ["source_pk"], ["sources.id"], ondelete="CASCADE", name="fk_warnings_source_pk_sources"
        ),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_warnings_run_pk_runs"),
    )
    op.create_index("ix_warnings_project_id", "warnings", ["project_id"])
    op.create_index("ix_warnings_source_pk", "warnings", ["source_pk"])
    op.create_index("ix_metrics_key_last", "metrics", ["key", "last"])


def downgrade() -> None:
    op.drop_index("ix_metrics_key_last", table_name="metrics")
    op.drop_table("warnings")
