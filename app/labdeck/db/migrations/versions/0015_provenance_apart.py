"""A run's provenance moves out of the runs table into run_provenance.

Every listing (the window's first page, each sort and filter) reads all of the runs table,
and a run launched with provenance carries its whole environment there: about 2 KB of JSON
(git, host, 60-odd package versions), stored inline and then in overflow pages ahead of the
columns added later (hidden, gone_at), which every listing asks for. Measured on 100,000
such runs: reading the listed runs' keys took 152 ms against 51 ms with no provenance, and a
column dropped in place leaves the table's pages as sparse as before, so the table is
rebuilt. Provenance is read one run (or a few) at a time; it now sits one lookup away.
Nothing stored changes: '{}' (no provenance) is simply no row.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_COLUMNS = """
    pk INTEGER NOT NULL,
    uid VARCHAR(16) NOT NULL,
    project_id INTEGER NOT NULL,
    source_pk INTEGER NOT NULL,
    format VARCHAR(32) NOT NULL,
    source_id TEXT NOT NULL,
    experiment TEXT NOT NULL,
    name TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    deleted BOOLEAN NOT NULL,
    parent_source_id TEXT,
    start_time INTEGER,
    end_time INTEGER,
    path TEXT NOT NULL,
    artifact_dir TEXT,{provenance}
    updated_at INTEGER NOT NULL,
    hidden BOOLEAN DEFAULT 0 NOT NULL,
    series_source VARCHAR(32),
    gone_at INTEGER,"""
_CONSTRAINTS = """
    CONSTRAINT pk_runs PRIMARY KEY (pk),
    CONSTRAINT uq_runs_uid UNIQUE (uid),
    CONSTRAINT fk_runs_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id) ON DELETE CASCADE,
    CONSTRAINT fk_runs_source_pk_sources FOREIGN KEY(source_pk) REFERENCES sources (id) ON DELETE CASCADE,
    CONSTRAINT uq_runs_source_pk UNIQUE (source_pk, source_id)"""
_INDEXES = [
    "CREATE INDEX ix_runs_project_id ON runs (project_id)",
    "CREATE INDEX ix_runs_source_id ON runs (source_id)",
    "CREATE INDEX ix_runs_source_pk ON runs (source_pk)",
    "CREATE INDEX ix_runs_start_time ON runs (start_time)",
    "CREATE INDEX ix_runs_parent_source_id ON runs (parent_source_id) WHERE parent_source_id IS NOT NULL",
]
_KEPT = ("pk, uid, project_id, source_pk, format, source_id, experiment, name, status, deleted, "
         "parent_source_id, start_time, end_time, path, artifact_dir, updated_at, hidden, series_source, gone_at")


def _rebuild_runs(with_provenance: bool, copied: str, selected: str) -> None:
    """SQLite's way to change a table others refer to: a new table, the rows copied, the old
    one dropped and the new one renamed (foreign keys are off during migrations: env.py)."""
    provenance = "\n    provenance TEXT DEFAULT '{}' NOT NULL," if with_provenance else ""
    op.execute(f"CREATE TABLE runs_new ({_COLUMNS.format(provenance=provenance)}{_CONSTRAINTS}\n)")
    op.execute(f"INSERT INTO runs_new ({copied}) {selected}")
    op.execute("DROP TABLE runs")
    op.execute("ALTER TABLE runs_new RENAME TO runs")
    for index in _INDEXES:
        op.execute(index)


def upgrade() -> None:
    op.execute(
        "CREATE TABLE run_provenance (run_pk INTEGER NOT NULL, provenance TEXT NOT NULL, "
        "CONSTRAINT pk_run_provenance PRIMARY KEY (run_pk), "
        "CONSTRAINT fk_run_provenance_run_pk_runs FOREIGN KEY(run_pk) REFERENCES runs (pk) ON DELETE CASCADE)"
    )
    op.execute("INSERT INTO run_provenance (run_pk, provenance) "
               "SELECT pk, provenance FROM runs WHERE provenance NOT IN ('{}', '')")
    _rebuild_runs(False, _KEPT, f"SELECT {_KEPT} FROM runs")


def downgrade() -> None:
    _rebuild_runs(True, f"{_KEPT}, provenance",
                  f"SELECT {', '.join('runs.' + c.strip() for c in _KEPT.split(','))}, "
                  "coalesce(run_provenance.provenance, '{}') "
                  "FROM runs LEFT JOIN run_provenance ON run_provenance.run_pk = runs.pk")
    op.execute("DROP TABLE run_provenance")
