"""Dataset versions stored as changes against the version before.

A version whose ``base_id`` is set holds only the files added or changed since its base,
plus a ``removed`` row for each file that went; one with no base holds its whole list.
Existing versions all hold their whole list, so they are left as they are.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("base_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_dataset_versions_base_id_dataset_versions", "dataset_versions", ["base_id"], ["id"]
        )
    op.add_column("dataset_files", sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # Give every delta version its whole file list again before the columns go.
    from labdeck.db.dataset_version_files import materialize_all
    from labdeck.db.raw import sqlite_connection

    materialize_all(sqlite_connection(op.get_bind()))
    op.execute("DELETE FROM dataset_files WHERE removed")
    with op.batch_alter_table("dataset_files") as batch:
        batch.drop_column("removed")
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_constraint("fk_dataset_versions_base_id_dataset_versions", type_="foreignkey")
        batch.drop_column("base_id")
