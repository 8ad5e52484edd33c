"""Two partial indexes that hold what the app lists when it opens.

Before the first page of runs can be drawn, the app lists every run shown, newest first, and
the sidebar counts each experiment's runs. Both read the whole runs table: at 100,000 runs
the listing took 120–250 ms and the counts 116 ms, side by side on a 2-core machine, the
largest part of the time from launch to the first page. Each index holds exactly the runs
its query asks about, with every column it reads, so each query is a walk of its index: the
listing 15 ms (``run_listing.listing_sql``), the counts 16 ms (``compare.experiments``).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_runs_listed_newest ON runs (start_time, pk, deleted, hidden, gone_at) "
        "WHERE deleted IS 0 AND hidden IS 0 AND gone_at IS NULL"
    )
    op.execute(
        "CREATE INDEX ix_runs_experiments ON runs (project_id, experiment, deleted, gone_at) "
        "WHERE deleted IS 0 AND gone_at IS NULL AND experiment != ''"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_experiments")
    op.execute("DROP INDEX IF EXISTS ix_runs_listed_newest")
