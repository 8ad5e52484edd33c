"""Alembic environment: runs on the engine labdeck hands over, in batch mode for SQLite.

Each migration is one SQLite transaction, DDL included, so a kill at any moment leaves the
index at the last whole revision (a fresh index either has a complete schema step or none).
Python's sqlite3 module opens transactions only before INSERT/UPDATE/DELETE and runs
CREATE/DROP TABLE in autocommit mode; for the migration's connection labdeck turns that off
and issues ``BEGIN IMMEDIATE`` itself (which also makes a second migrating process wait).
"""

from alembic import context
from sqlalchemy import event

from labdeck.db.schema import metadata

config = context.config
engine = config.attributes["engine"]


def _begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


with engine.connect() as connection:
    raw = connection.connection.driver_connection
    previous = raw.isolation_level
    raw.isolation_level = None  # no implicit transactions: ours, around DDL too
    # A batch migration copies a table and drops the old one; with foreign keys on, that
    # drop would cascade into every table referring to it (all of a run's metrics, all of a
    # version's files). The pragma only takes effect outside a transaction.
    raw.execute("PRAGMA foreign_keys=OFF")
    event.listen(connection, "begin", _begin)
    try:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        event.remove(connection, "begin", _begin)
        if raw.in_transaction:
            raw.rollback()
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        raw.execute("PRAGMA foreign_keys=ON")
        raw.isolation_level = previous
    if broken:
        raise RuntimeError(f"the migration left {len(broken)} rows whose references are gone: {broken[:3]}")
