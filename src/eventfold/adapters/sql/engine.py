"""Engines for the query model, with the connection settings eventfold relies on.

SQLite (the embedded default, the same file as the event store): WAL, a busy timeout and
``BEGIN IMMEDIATE`` for :func:`write_transaction`. A deferred transaction would let a
read-then-write transaction fail with "database is locked" when another writer (the event
store) commits in between; taking the write lock up front makes it wait (busy timeout).
``synchronous=NORMAL`` is enough for projections: a power cut may lose the last commits,
but rows and their versions are lost together, so the router applies those events again.

MySQL/MariaDB: ``mysql+pymysql://user@host:3306/db``, READ COMMITTED.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from eventfold.adapters.sqlite.plumbing import FileWriteGate, WriteGate, use_wal
from eventfold.errors import ConfigurationError

_WRITE_OPTION = "eventfold_write"
_GATE_OPTION = "eventfold_write_gate"
_ONE_STATEMENT_OPTION = "eventfold_one_statement"


def sqlite_url(path: Path | str) -> str:
    """The SQLAlchemy URL of a SQLite file (e.g. ``EVENTFOLD_HOME/eventfold.db``)."""
    return f"sqlite:///{Path(path)}"


def create_engine(url: str, *, write_gate: WriteGate | None = None, **options: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db`` or ``mysql+pymysql://...``) set up for
    eventfold's projections and ledger. ``options`` go to :func:`sqlalchemy.create_engine`.

    ``write_gate``: on SQLite, the gate of the other writers of the same file (by default
    the file's :class:`FileWriteGate`, which the event store on that file shares), so
    :func:`write_transaction` queues behind them instead of meeting SQLite's sleeping busy
    handler."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"query-model URL {url!r} is not a database URL ({exc}); use e.g. "
            "sqlite:///.eventfold/eventfold.db or mysql+pymysql://root@127.0.0.1:3306/test"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa_create_engine(url, **options)
        _tune_sqlite(engine)
        if write_gate is None and parsed.database and parsed.database != ":memory:":
            write_gate = FileWriteGate.for_file(parsed.database)
        return engine.execution_options(**{_GATE_OPTION: write_gate}) if write_gate else engine
    if backend in ("mysql", "mariadb"):
        options.setdefault("isolation_level", "READ COMMITTED")
        options.setdefault("pool_pre_ping", True)
        return sa_create_engine(url, **options)
    raise ConfigurationError(
        f"query-model URL {url!r}: backend {backend!r} is not supported; use sqlite:/// "
        "or mysql+pymysql://"
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        dbapi_connection.execute("PRAGMA busy_timeout=30000")
        use_wal(dbapi_connection)
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(_ONE_STATEMENT_OPTION, False):
            connection.exec_driver_sql("BEGIN")


def one_statement_reads(engine: Engine) -> Engine:
    """``engine`` for reads that each run ONE statement, such as a query route's lookup or
    page. On SQLite their connections begin no transaction: the statement alone reads one
    consistent snapshot, and the BEGIN and ROLLBACK around it cost 5-7 % of a
    ``GET /reservations/{id}``'s CPU. Two statements on one such connection may see two
    snapshots, and writes through it are not atomic (each statement commits alone): use
    the engine itself, or :func:`write_transaction`, for those. Other backends ignore the
    option."""
    return engine.execution_options(**{_ONE_STATEMENT_OPTION: True})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock when it begins
    (``BEGIN IMMEDIATE``), so it waits for other writers instead of failing midway.
    Plain ``engine.begin()`` / ``engine.connect()`` (queries) begin a deferred read."""
    gate = engine.get_execution_options().get(_GATE_OPTION) or nullcontext()
    with gate, engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn
