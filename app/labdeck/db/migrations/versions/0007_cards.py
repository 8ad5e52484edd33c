"""Model-card sections written by people, saved with a model version.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_sections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_card_sections"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], ondelete="CASCADE",
            name="fk_card_sections_version_id_model_versions",
        ),
        sa.UniqueConstraint("version_id", "key", name="uq_card_sections_version_id"),
    )
    op.create_index("ix_card_sections_version_id", "card_sections", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_card_sections_version_id", table_name="card_sections")
    op.drop_table("card_sections")
