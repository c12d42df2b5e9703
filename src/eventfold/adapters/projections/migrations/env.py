"""Alembic environment of eventfold's migrations: always online, on the connection that
:func:`eventfold.adapters.projections.migrate.migrate` passes in ``config.attributes``."""

from alembic import context

from eventfold.adapters.projections.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs via table copies
)
with context.begin_transaction():
    context.run_migrations()
