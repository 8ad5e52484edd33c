"""Alembic environment: runs on the engine labdeck hands over, in batch mode for SQLite."""

from alembic import context

from labdeck.db.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    # A batch migration copies a table and drops the old one; with foreign keys on, that
    # drop would cascade into every table referring to it (all of a run's metrics, all of a
    # version's files). The pragma only takes effect outside a transaction, hence the commits.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    connection.commit()
    if broken:
        raise RuntimeError(f"the migration left {len(broken)} rows whose references are gone: {broken[:3]}")
