from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import sqlite

from eventfold.adapters.sql.driver import DriverStatement, bind_processor
from eventfold.sql import write_transaction


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 22, 23, 8, 32, 605265),
        datetime(2026, 11, 22, 23, 8, 32),
        datetime(999, 1, 1),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=9))),
        None,
    ],
)
def test_the_fast_sqlite_datetime_writes_what_sqlalchemy_writes(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    general = DateTime().dialect_impl(dialect).bind_processor(dialect)
    fast = bind_processor(DateTime(), dialect)
    assert general is not None
    assert fast is not None
    assert fast(value) == general(value)


counters = Table(
    "counters",
    MetaData(),
    Column("id", String(20), primary_key=True),
    Column("n", Integer, nullable=False),
)


def test_executemany_runs_each_row_and_counts_the_rows_it_changed(engine: Engine) -> None:
    counters.metadata.create_all(engine)
    with write_transaction(engine) as conn:
        conn.execute(insert(counters), [{"id": "a", "n": 1}, {"id": "b", "n": 1}])
    bump = DriverStatement.compile(
        update(counters).where(counters.c.id == bindparam("k")).values(n=counters.c.n + 1),
        engine.dialect,
    )
    with write_transaction(engine) as conn:
        assert bump.executemany(conn, [{"k": "a"}, {"k": "missing"}, {"k": "a"}]) == 2
        assert bump.executemany(conn, []) == 0
    with engine.connect() as conn:
        assert dict(conn.execute(select(counters.c.id, counters.c.n)).all()) == {"a": 3, "b": 1}
