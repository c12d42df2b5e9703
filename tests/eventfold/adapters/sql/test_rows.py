"""Rows buffers key-addressed writes; the outcome must equal running them one by one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    insert,
    select,
)
from sqlalchemy.exc import DBAPIError

from eventfold.sql import Rows, write_transaction

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("name", String(50)),
    Column("qty", Integer),
)
TABLES = {"items": items}


@pytest.fixture
def db(engine: Engine) -> Engine:
    metadata.create_all(engine)
    with write_transaction(engine) as conn:
        conn.execute(insert(items), [{"id": "old", "name": "kept", "qty": 1}])
    return engine


def contents(engine: Engine) -> dict[str, tuple[str | None, int | None]]:
    with engine.connect() as conn:
        return {r.id: (r.name, r.qty) for r in conn.execute(select(items))}


def test_writes_to_one_row_collapse_in_order(db: Engine) -> None:
    with write_transaction(db) as conn:
        rows = Rows(conn, TABLES)
        rows.upsert("items", {"id": "a", "name": "first", "qty": 1})
        rows.update("items", {"id": "a"}, {"qty": 2})
        rows.upsert("items", {"id": "a", "name": "second"})  # partial: qty stays
        rows.update("items", {"id": "old"}, {"qty": 5})
        rows.update("items", {"id": "missing"}, {"qty": 9})  # no such row: nothing
        rows.flush()
    assert contents(db) == {"a": ("second", 2), "old": ("kept", 5)}


def test_delete_then_upsert_recreates_and_update_after_delete_does_nothing(db: Engine) -> None:
    with write_transaction(db) as conn:
        rows = Rows(conn, TABLES)
        rows.delete("items", {"id": "old"})
        rows.update("items", {"id": "old"}, {"qty": 7})
        rows.upsert("items", {"id": "b", "name": "b", "qty": 1})
        rows.delete("items", {"id": "b"})
        rows.upsert("items", {"id": "b", "name": "again"})
        rows.flush()
    assert contents(db) == {"b": ("again", None)}


def test_get_sees_buffered_writes(db: Engine) -> None:
    with write_transaction(db) as conn:
        rows = Rows(conn, TABLES)
        assert rows.get("items", {"id": "old"}) == {"id": "old", "name": "kept", "qty": 1}
        rows.update("items", {"id": "old"}, {"qty": 3})
        assert rows.get("items", {"id": "old"}) == {"id": "old", "name": "kept", "qty": 3}
        rows.delete("items", {"id": "old"})
        assert rows.get("items", {"id": "old"}) is None
        rows.upsert("items", {"id": "c", "name": "c", "qty": 4})
        assert rows.get("items", {"id": "c"}) == {"id": "c", "name": "c", "qty": 4}


def test_execute_runs_after_the_buffered_writes(db: Engine) -> None:
    with write_transaction(db) as conn:
        rows = Rows(conn, TABLES)
        rows.upsert("items", {"id": "d", "name": "d", "qty": 1})
        table = rows.tables["items"]
        rows.execute(table.update().values(qty=table.c.qty + 10))
    assert contents(db) == {"d": ("d", 11), "old": ("kept", 11)}


def test_unknown_tables_and_missing_keys_are_named(db: Engine) -> None:
    with write_transaction(db) as conn:
        rows = Rows(conn, TABLES)
        with pytest.raises(KeyError, match="not a table of this projection"):
            rows.upsert("nope", {"id": "x"})
        with pytest.raises(KeyError, match="primary-key column 'id'"):
            rows.upsert("items", {"name": "x"})


class Tagged(TypeDecorator[str]):
    """A column type of the application's own: its result processing must still run."""

    impl = String(30)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else f"tag:{value}"

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.removeprefix("tag:")


typed = Table(
    "typed",
    metadata,
    Column("store", String(20), primary_key=True),
    Column("sku", String(20), primary_key=True),
    Column("at", DateTime),
    Column("open", Boolean),
    Column("label", Tagged),
    Column("qty", Integer),
)


def test_get_reads_values_as_sqlalchemy_would(db: Engine) -> None:
    """Rows.get reads on the driver's cursor; its values must equal SQLAlchemy's own result
    (times, booleans, a TypeDecorator), and a row that is not there is None."""
    at = datetime(2026, 12, 6, 4, 5, 6)  # whole seconds: a plain MySQL DATETIME keeps no more
    with write_transaction(db) as conn:
        conn.execute(
            insert(typed),
            [
                {"store": "s", "sku": "a", "at": at, "open": True, "label": "x", "qty": 3},
                {"store": "s", "sku": "b", "at": None, "open": False, "label": None, "qty": None},
            ],
        )
    with write_transaction(db) as conn:
        rows = Rows(conn, {"typed": typed})
        for sku in ("a", "b"):
            expected = conn.execute(select(typed).where(typed.c.sku == sku)).mappings().one()
            got = rows.get("typed", {"store": "s", "sku": sku})
            assert got == dict(expected)
            assert got is not None
            assert type(got["open"]) is bool
        assert rows.get("typed", {"store": "s", "sku": "zzz"}) is None
        first = rows.get("typed", {"store": "s", "sku": "a"})
        assert first is not None
        assert first["at"] == at


def test_a_driver_error_on_get_is_sqlalchemys(db: Engine) -> None:
    with write_transaction(db) as conn:
        conn.exec_driver_sql("DROP TABLE items")
        rows = Rows(conn, TABLES)
        with pytest.raises(DBAPIError):
            rows.get("items", {"id": "old"})
