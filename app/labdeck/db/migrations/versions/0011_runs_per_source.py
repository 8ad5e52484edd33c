"""Runs are keyed by their source, and a vanished source leaves its runs as gone, not deleted.

Two copies of one store in a project (``a/mlflow.db`` and ``backup/mlflow.db``) hold the same
tool run ids; keyed by (project, format, run id) they overwrote each other. They are keyed by
(source, run id) now. ``gone_at`` marks runs (and sources) that a complete pass no longer
found: their rows stay, so what points at them (model versions, lineage, reproductions, the
hidden flag) survives, and they come back under the same keys if their files do.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("uq_runs_project_id", type_="unique")
        batch.create_unique_constraint("uq_runs_source_pk", ["source_pk", "source_id"])
        batch.add_column(sa.Column("gone_at", sa.Integer(), nullable=True))
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("gone_at", sa.Integer(), nullable=True))


def downgrade() -> None:
    # An older labdeck deletes what is gone, and cannot hold two runs with one tool run id.
    op.execute("DELETE FROM runs WHERE gone_at IS NOT NULL")
    op.execute("DELETE FROM sources WHERE gone_at IS NOT NULL")
    op.execute("DELETE FROM runs WHERE pk NOT IN (SELECT MIN(pk) FROM runs GROUP BY project_id, format, source_id)")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("gone_at")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("gone_at")
        batch.drop_constraint("uq_runs_source_pk", type_="unique")
        batch.create_unique_constraint("uq_runs_project_id", ["project_id", "format", "source_id"])
