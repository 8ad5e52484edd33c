"""Dataset inputs, logged models and registered models found in runs; indexes for sorting
runs by start time and filtering or sorting them on a numeric param.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_inputs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("source_type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_inputs"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_run_inputs_run_pk_runs"),
    )
    op.create_index("ix_run_inputs_run_pk", "run_inputs", ["run_pk"])
    op.create_table(
        "run_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.Column("model_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("artifact_path", sa.Text, nullable=True),
        sa.Column("step", sa.Integer, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_models"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.pk"], ondelete="CASCADE", name="fk_run_models_run_pk_runs"),
    )
    op.create_index("ix_run_models_run_pk", "run_models", ["run_pk"])
    op.create_table(
        "source_registered_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_pk", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_source_registered_models"),
        sa.ForeignKeyConstraint(
            ["source_pk"], ["sources.id"], ondelete="CASCADE", name="fk_source_registered_models_source_pk_sources"
        ),
    )
    op.create_index("ix_source_registered_models_source_pk", "source_registered_models", ["source_pk"])
    op.create_index("ix_runs_start_time", "runs", ["start_time"])
    op.create_index("ix_params_key_value_num", "params", ["key", "value_num"])


def downgrade() -> None:
    op.drop_index("ix_params_key_value_num", table_name="params")
    op.drop_index("ix_runs_start_time", table_name="runs")
    op.drop_table("source_registered_models")
    op.drop_table("run_models")
    op.drop_table("run_inputs")
