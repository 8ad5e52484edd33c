"""Removed dataset versions are remembered (their number, hash and who used them).

``dataset rm`` used to forget a version outright: its number was given out again to the
next add (so ``ds:3`` in a run's lineage could name other bytes), and ``gc`` freed the bytes
of a version that model versions and jobs still recorded. Nothing existing is changed.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_removed_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("removed_at", sa.Integer, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("users", sa.Text, nullable=False),
        sa.UniqueConstraint("dataset", "version", name="uq_dataset_removed_versions_dataset"),
    )
    op.create_index("ix_dataset_removed_versions_digest", "dataset_removed_versions", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_dataset_removed_versions_digest", table_name="dataset_removed_versions")
    op.drop_table("dataset_removed_versions")
