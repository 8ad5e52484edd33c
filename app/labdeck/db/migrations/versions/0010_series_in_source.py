"""Runs whose points stay in their tool's own store (MLflow's SQLite), read on demand.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("series_source", sa.String(32), nullable=True))


def downgrade() -> None:
    # Their points were never copied: forget those sources' reads so the next index copies them.
    op.execute("UPDATE sources SET fingerprint = '', cursor = '{}' WHERE id IN "
               "(SELECT source_pk FROM runs WHERE series_source IS NOT NULL)")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("series_source")
