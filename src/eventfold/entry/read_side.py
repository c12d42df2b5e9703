"""Where the embedded read side lives: the SQLite file of the query model, the effects
ledger and the router state, beside the event store's own file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import Engine

from eventfold.adapters.sql.engine import create_engine, sqlite_url
from eventfold.adapters.sqlite.event_store import SqliteEventStore
from eventfold.core.ports import EventStore
from eventfold.errors import ConfigurationError


def read_side_database(store: SqliteEventStore) -> Path:
    """The SQLite file of the embedded read side (query model, effects ledger, router
    state): ``<store>-query.db`` beside the event store's file (``eventfold-query.db``).

    Not the event store's own file: the router's writes (projections, ledger, checkpoints)
    would queue on the same write lock as the commands (measured: HTTP throughput 0.5x of
    the same server without a router). In their own file they wait for nothing but each
    other, and they are consistent with each other (one file, one WAL): a power cut that
    loses the last read-side commits loses the rows and their checkpoints together, and the
    router applies those events again from the event store, which fsyncs every commit.
    A home made before the split keeps everything in the event store's file."""
    legacy = store.path.exists() and _holds_read_side(store.path)
    return store.path if legacy else store.path.with_name(f"{store.path.stem}-query.db")


def _holds_read_side(path: Path) -> bool:
    with closing(sqlite3.connect(path)) as db:
        return bool(
            db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'router_checkpoints'"
            ).fetchone()
        )


def embedded_query_engine(store: EventStore) -> Engine:
    """A query-model engine on the SQLite file :func:`read_side_database` names; only an
    embedded (SQLite) event store has one."""
    if not isinstance(store, SqliteEventStore):
        raise ConfigurationError(
            "no query-model database configured: set EVENTFOLD_QUERY_URL (e.g. "
            "mysql+pymysql://user@host:3306/db) when the event store is not SQLite"
        )
    return create_engine(sqlite_url(read_side_database(store)))
