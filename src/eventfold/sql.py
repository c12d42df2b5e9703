"""eventfold's SQL facade: query models (projections) and the effects ledger, on SQLite
(the embedded default: the event store's own file) or MySQL/MariaDB (the ``[sql]`` extra;
``[mysql]`` for MySQL).

Declaring a projection — plain tables, plain handler functions, one line of bookkeeping::

    from sqlalchemy import Column, MetaData, String, Table
    from eventfold import RecordedEvent
    from eventfold.router import EventFilter, Subscription
    from eventfold.sql import Rows, SqlProjection, create_engine, versions_table

    metadata = MetaData()
    reservations = Table(
        "reservations", metadata,
        Column("id", String(64), primary_key=True),
        Column("status", String(20), nullable=False),
    )
    versions_table("reservations_view", metadata)  # stream -> last applied version

    def on_placed(rows: Rows, event: ReservationPlaced, recorded: RecordedEvent) -> None:
        rows.upsert("reservations", {"id": event.reservation_id, "status": "placed"})

    def on_cancelled(rows: Rows, event: ReservationCancelled, recorded: RecordedEvent) -> None:
        rows.update("reservations", {"id": event.reservation_id}, {"status": "cancelled"})

    engine = create_engine("sqlite:///.eventfold/eventfold.db")  # or mysql+pymysql://...
    projection = SqlProjection(
        "reservations_view", engine, codec, [reservations],
        {ReservationPlaced: on_placed, ReservationCancelled: on_cancelled},
    )
    subscription = Subscription(
        "reservations_view", projection, EventFilter(categories=frozenset({"reservation"}))
    )

What the projection guarantees: each batch of events is applied in ONE transaction
together with the last applied version of every stream it touched (table
``<name>_versions``), and events at or below that version are skipped — a redelivered
batch changes nothing (exactly-once effect). Handlers write through :class:`Rows`
(buffered, primary-key addressed ``upsert`` / ``update`` / ``delete`` / ``get``; ``execute``
and ``connection`` for any other SQL; ``rows.tables[live_name]`` for the Table to use in
statements): the same handler then writes the live tables or, during ``eventfold rebuild``,
their shadow copies, which are swapped in atomically at the end.

Reading (the query API): ``with engine.connect() as conn: conn.execute(select(...))``;
a route whose reads are one statement each can use ``one_statement_reads(engine)``
instead (on SQLite no transaction around the statement: 5-7 % of a one-row read's CPU).
A hot read can leave the rows to the database and SQLAlchemy out of the request:
``json_row(columns, dialect)`` renders each row as the JSON its pydantic model would dump
(``json_array`` joins them), and ``PreparedRead(statement, engine).rows(params)`` runs a
statement compiled once on the driver's cursor (the reservation service's pages: 0.52 ->
0.13 ms of CPU each). ``projection.applied_versions([stream_id])`` tells whether version
v of a stream is visible yet (read-your-writes).

Schema: :func:`migrate` runs Alembic at startup, in code: eventfold's own tables (the
effects ledger) and each folder of a service's own revisions (a branch of its own:
``down_revision = None``, ``branch_labels = ("reservations",)``, with its own version
table), and returns the revisions it applied. A service names its folder in
``Service(migrations=...)`` and the entry points migrate it; :func:`schema_differences`
tells (one line per table/column) where the migrated tables differ from a projection's
MetaData, for a test. ``projection.create_tables()`` makes a scratch schema (tests, benches).
"""

from eventfold.entry.extras import require_extra

require_extra("eventfold.sql", "sql")

from eventfold.adapters.sql.engine import (
    create_engine,
    one_statement_reads,
    sqlite_url,
    write_transaction,
)
from eventfold.adapters.sql.json_rows import json_array, json_row
from eventfold.adapters.sql.ledger import SqlEffectsLedger, effects_table
from eventfold.adapters.sql.migrate import (
    AppliedRevision,
    alembic_config,
    migrate,
    schema_differences,
)
from eventfold.adapters.sql.prepared import PreparedRead
from eventfold.adapters.sql.projection import (
    ProjectionHandler,
    SqlProjection,
    SqlRebuild,
    versions_table,
)
from eventfold.adapters.sql.rows import Rows

__all__ = [
    "AppliedRevision",
    "PreparedRead",
    "ProjectionHandler",
    "Rows",
    "SqlEffectsLedger",
    "SqlProjection",
    "SqlRebuild",
    "alembic_config",
    "create_engine",
    "effects_table",
    "json_array",
    "json_row",
    "migrate",
    "one_statement_reads",
    "schema_differences",
    "sqlite_url",
    "versions_table",
    "write_transaction",
]
