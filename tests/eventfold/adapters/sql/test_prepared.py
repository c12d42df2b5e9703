"""PreparedRead: a statement compiled once and run on the driver's cursor answers what
SQLAlchemy's execution of it answers (text and integers as they are), with bound times
processed as SQLAlchemy binds them, on SQLite and MariaDB."""

from __future__ import annotations

from datetime import datetime, timedelta

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
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError

from eventfold.sql import PreparedRead

Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
metadata = MetaData()
items = Table(
    "prepared_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(50), nullable=False),
    Column("at", Timestamp, nullable=False),
)
T0 = datetime(2026, 5, 10, 9, 0)  # no microseconds: bound unprocessed, SQLite's text differs


@pytest.fixture
def filled(engine: Engine) -> Engine:
    metadata.create_all(engine)
    rows = [
        {"id": n, "owner": "ann" if n % 2 else "bob", "at": T0 + timedelta(minutes=n)}
        for n in range(20)
    ]
    with engine.begin() as conn:
        conn.execute(insert(items), rows)
    return engine


def test_the_rows_are_what_sqlalchemy_answers(filled: Engine) -> None:
    query = (
        select(items.c.id, items.c.owner)
        .where(
            items.c.owner == bindparam("owner"),
            items.c.at >= bindparam("since"),
            items.c.at <= bindparam("until"),
        )
        .order_by(items.c.id)
        .limit(bindparam("limit"))
    )
    since, until = T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)
    params = {"owner": "ann", "since": since, "until": until, "limit": 5}
    with filled.connect() as conn:
        expected = [tuple(row) for row in conn.execute(query, params)]
    assert PreparedRead(query, filled).rows(params) == expected
    assert expected == [(5, "ann"), (7, "ann"), (9, "ann")]  # both bounds included


def test_a_parameter_not_given_is_named(filled: Engine) -> None:
    query = select(items.c.id).where(items.c.owner == bindparam("owner"))
    with pytest.raises(KeyError, match="'owner'"):
        PreparedRead(query, filled).rows({})


def test_values_the_statement_carries_itself_are_bound_as_compiled(filled: Engine) -> None:
    query = (
        select(items.c.id)
        .where(items.c.owner == "bob", items.c.id > bindparam("above"))
        .order_by(items.c.id)
        .limit(2)
        .offset(1)
    )
    with filled.connect() as conn:
        expected = [tuple(row) for row in conn.execute(query, {"above": 3})]
    assert (
        PreparedRead(query, filled).rows({"above": 3}) == expected == [(6,), (8,)]
    )  # bob: even ids


def test_an_in_list_rendered_at_execution_is_refused(filled: Engine) -> None:
    query = select(items.c.id).where(items.c.owner.in_(["ann", "bob"]))
    with pytest.raises(ValueError, match="expanding IN"):
        PreparedRead(query, filled)


def test_a_driver_error_is_sqlalchemys(filled: Engine) -> None:
    query = select(items.c.id).where(items.c.id == bindparam("id"))
    prepared = PreparedRead(query, filled)
    with filled.begin() as conn:
        conn.execute(text("DROP TABLE prepared_items"))
    with pytest.raises(DBAPIError):
        prepared.rows({"id": 1})
