"""The first catalogue: projects, sources, runs, params, tags, metric summaries and points.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("added_at", sa.Integer, nullable=False),
        sa.Column("scanned_at", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("path", name="uq_projects_path"),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("indexed_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], ondelete="CASCADE", name="fk_sources_project_id_projects"
        ),
        sa.UniqueConstraint("project_id", "format", "path", name="uq_sources_project_id"),
    )
    op.create_index("ix_sources_project_id", "sources", ["project_id"])
    op.create_table(
        "runs",
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(16), nullable=False),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("source_pk", sa.Integer, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("experiment", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("parent_source_id", sa.Text, nullable=True),
        sa.Column("start_time", sa.Integer, nullable=True),
        sa.Column("end_time", sa.Integer, nullable=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("artifact_dir", sa.Text, nullable=True),
        sa.Column("provenance", sa.Text, nullable=False, server_default="{}"),
        sa.Column("updated_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], ondelete="CASCADE", name="fk_runs_project_id_projects"
        ),
        sa.ForeignKeyConstraint(
            ["source_pk"], ["sources.id"], ondelete="CASCADE", name="fk_runs_source_pk_sources"
        ),
        sa.UniqueConstraint("uid", name="uq_runs_uid"),
        sa.UniqueConstraint("project_id", "format", "source_id", name="uq_runs_project_id"),
    )
    op.create_index("ix_runs_project_id", "runs", ["project_id"])
    op.create_index("ix_runs_source_pk", "runs", ["source_pk"])
    op.create_index("ix_runs_source_id", "runs", ["source_id"])
    for table in ("params", "tags"):
        cols: list[Any] = [
            sa.Column("run_pk", sa.Integer, nullable=False),
            sa.Column("key", sa.Text, nullable=False),
            sa.Column("value", sa.Text, nullable=False),
        ]
        if table == "params":
            cols.append(sa.Column("value_num", sa.Float, nullable=True))
        op.create_table(
            table,
            *cols,
            sa.PrimaryKeyConstraint("run_pk", "key", name=f"pk_{table}"),
            sa.ForeignKeyConstraint(
                ["run_pk"], ["runs.pk"], ondelete="CASCADE", name=f"fk_{table}_run_pk_runs"
            ),
        )
    op.create_table(
        "metrics",
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("last", sa.Float, nullable=True),
        sa.Column("min", sa.Float, nullable=True),
        sa.Column("max", sa.Float, nullable=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_step", sa.Integer, nullable=True),
        sa.Column("last_wall", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("run_pk", "key", name="pk_metrics"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_metrics_run_pk_runs"),
    )
    op.create_table(
        "metric_chunks",
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("values", sa.LargeBinary, nullable=False),
        sa.Column("walls", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("run_pk", "key", "seq", name="pk_metric_chunks"),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_metric_chunks_run_pk_runs"
        ),
    )


def downgrade() -> None:
    for table in ("metric_chunks", "metrics", "tags", "params", "runs", "sources", "projects"):
        op.drop_table(table)
