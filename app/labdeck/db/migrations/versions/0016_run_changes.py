"""A journal of the runs whose listed values changed: ``run_changes``, filled by triggers.

The app keeps its sorted listings of 100,000 runs in memory (``db.listing_orders``), and had
to drop all of them at any commit by any connection: while a training wrote, every pass
of the watcher made the next sort an SQL sort again (200–330 ms). With this journal a
reader learns which runs a commit touched, in the snapshot it reads, and re-reads only
those. Triggers, not writer code, fill it: every writer (another labdeck process, an older
build, a script with ``sqlite3``) records its changes alike.

A change to a project's path (every run's ``project``) or a project's removal records run
0: "everything". The journal trims itself to its last 65,536 entries; a reader further
behind than that starts again. A migration that rebuilds one of these tables drops its
triggers with it and must make them again (``TRIGGERS``); a reader that misses one keeps
nothing between commits, as before.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

KEPT = 65_536
# table -> its run's pk column; INSERT, UPDATE and DELETE each record the run.
TABLES = {"runs": "pk", "params": "run_pk", "tags": "run_pk", "metrics": "run_pk"}


def _triggers() -> dict[str, str]:
    out = {}
    for table, pk in TABLES.items():
        out[f"run_changes_{table}_insert"] = (
            f"AFTER INSERT ON {table} BEGIN INSERT INTO run_changes (run_pk) VALUES (NEW.{pk}); END")
        out[f"run_changes_{table}_update"] = (
            f"AFTER UPDATE ON {table} BEGIN INSERT INTO run_changes (run_pk) "
            f"SELECT OLD.{pk} UNION SELECT NEW.{pk}; END")
        out[f"run_changes_{table}_delete"] = (
            f"AFTER DELETE ON {table} BEGIN INSERT INTO run_changes (run_pk) VALUES (OLD.{pk}); END")
    out["run_changes_projects_update"] = (
        "AFTER UPDATE OF path ON projects BEGIN INSERT INTO run_changes (run_pk) VALUES (0); END")
    out["run_changes_projects_delete"] = (
        "AFTER DELETE ON projects BEGIN INSERT INTO run_changes (run_pk) VALUES (0); END")
    out["run_changes_trim"] = (
        f"AFTER INSERT ON run_changes WHEN NEW.seq % 4096 = 0 BEGIN "
        f"DELETE FROM run_changes WHERE seq <= NEW.seq - {KEPT}; END")
    return out


TRIGGERS = _triggers()


def upgrade() -> None:
    op.create_table(
        "run_changes",
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("run_pk", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_run_changes"),
        sqlite_autoincrement=True,
    )
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("run_changes")
