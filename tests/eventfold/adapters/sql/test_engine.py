"""The query-model engine's transactions on SQLite: what each kind of connection begins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from eventfold.sql import create_engine, one_statement_reads, sqlite_url, write_transaction


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(sqlite_url(tmp_path / "q.db"))
    with made.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    yield made
    made.dispose()


def statements(engine: Engine) -> list[str]:
    """Every statement ``engine``'s connections send from now on, BEGINs included."""
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: object, cursor: object, statement: str, *_: object) -> None:
        sent.append(statement.strip())

    return sent


def test_a_plain_read_runs_in_a_deferred_transaction(engine: Engine) -> None:
    sent = statements(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalar() == 1
        assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
    assert sent == ["BEGIN", "SELECT n FROM t"]


def test_a_one_statement_read_begins_no_transaction(engine: Engine) -> None:
    sent = statements(engine)
    reads = one_statement_reads(engine)
    with reads.connect() as conn:
        assert conn.execute(text("SELECT n FROM t")).scalar() == 1
        assert not conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
    assert sent == ["SELECT n FROM t"]


def test_a_write_transaction_on_a_one_statement_engine_still_takes_the_write_lock(
    engine: Engine,
) -> None:
    sent = statements(engine)
    with write_transaction(one_statement_reads(engine)) as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert sent == ["BEGIN IMMEDIATE", "INSERT INTO t VALUES (2)"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
