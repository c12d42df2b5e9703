"""What the read side of a service takes from :attr:`ServiceContext.resources`, by name,
with the embedded defaults when an entry point did not put anything there.

Services call these from their ``routes`` and ``subscriptions`` factories, so both share one
query-model engine per context, whichever entry point (``eventfold run``, ``eventfold
worker``, ``eventfold rebuild``, a test) built the context.
"""

from __future__ import annotations

from sqlalchemy import Engine

from eventfold.adapters.projections.engine import create_engine, sqlite_url
from eventfold.adapters.store.sqlite import SqliteEventStore
from eventfold.entry.service import ServiceContext
from eventfold.errors import ConfigurationError

QUERY_ENGINE = "query_engine"
"""resources key: the SQLAlchemy Engine of the query model."""

READ_WAIT_SECONDS = "read_wait_seconds"
"""resources key: how long a read with ``min_version`` waits for the query model (float)."""

DEFAULT_READ_WAIT_SECONDS = 2.0


def query_engine(context: ServiceContext) -> Engine:
    """The query-model engine: ``resources["query_engine"]``, or else (the embedded default)
    one on the event store's own SQLite file, remembered in the context."""
    engine = context.resources.get(QUERY_ENGINE)
    if engine is None:
        if not isinstance(context.store, SqliteEventStore):
            raise ConfigurationError(
                "no query-model database configured: set EVENTFOLD_QUERY_URL (e.g. "
                "mysql+pymysql://user@host:3306/db) when the event store is not SQLite"
            )
        engine = create_engine(sqlite_url(context.store.path))
        context.resources[QUERY_ENGINE] = engine
    if not isinstance(engine, Engine):
        raise ConfigurationError(f"resources[{QUERY_ENGINE!r}] is not a SQLAlchemy Engine")
    return engine


def read_wait_seconds(context: ServiceContext) -> float:
    """How long a read-your-writes request may wait (``resources["read_wait_seconds"]``)."""
    return float(context.resources.get(READ_WAIT_SECONDS, DEFAULT_READ_WAIT_SECONDS))
