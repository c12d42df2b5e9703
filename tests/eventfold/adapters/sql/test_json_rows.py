"""json_row: the database's JSON for a row equals what the row's pydantic model dumps, on
SQLite and MariaDB (text of any characters, integers, times with and without
microseconds, NULLs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)
from sqlalchemy.dialects import mysql, sqlite

from eventfold.sql import json_array, json_row

Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

metadata = MetaData()
things = Table(
    "json_things",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("note", String(200)),
    Column("count", BigInteger, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("done_at", Timestamp),
)


class Thing(BaseModel):
    id: int
    name: str
    note: str | None
    count: int
    at: datetime
    done_at: datetime | None


# MariaDB's utf8mb4 holds any code point but the surrogates.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
moments = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda m: m if m.microsecond % 2 else m.replace(microsecond=0)
)
rows = st.fixed_dictionaries(
    {
        "name": text,
        "note": st.none() | text,
        "count": st.integers(-(2**63), 2**63 - 1),
        "at": moments,
        "done_at": st.none() | moments,
    }
)


def _as_model_dumps(row: dict[str, Any]) -> Any:
    aware = {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for k, v in row.items()}
    return json.loads(Thing.model_validate(aware).model_dump_json())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(rows, min_size=1, max_size=5))
def test_the_rows_json_is_the_models_json(engine: Engine, batch: list[dict[str, Any]]) -> None:
    metadata.create_all(engine)
    numbered = [{"id": n, **row} for n, row in enumerate(batch)]
    with engine.begin() as conn:
        conn.execute(delete(things))
        conn.execute(insert(things), numbered)
    query = select(json_row(things.columns, engine.dialect.name)).select_from(things)
    query = query.order_by(things.c.id)
    with engine.connect() as conn:
        objects = list(conn.scalars(query))
    assert [json.loads(o) for o in objects] == [_as_model_dumps(row) for row in numbered]
    assert json.loads(json_array(objects)) == [_as_model_dumps(row) for row in numbered]


def test_times_are_written_as_pydantic_writes_them(engine: Engine) -> None:
    metadata.create_all(engine)
    row = {
        "id": 1,
        "name": "n",
        "note": None,
        "count": 1,
        "at": datetime(2026, 5, 10, 9, 0, 0, 250000),
        "done_at": datetime(2026, 5, 10, 9, 0),
    }
    with engine.begin() as conn:
        conn.execute(insert(things), [row])
    with engine.connect() as conn:
        query = select(json_row(things.columns, engine.dialect.name)).select_from(things)
        got = json.loads(conn.scalar(query) or "")
    assert got["at"] == "2026-05-10T09:00:00.250000Z"
    assert got["done_at"] == "2026-05-10T09:00:00Z"
    assert got["note"] is None


@pytest.mark.parametrize("kind", [Boolean(), Float()])
def test_a_type_whose_rendering_differs_is_refused(kind: Any) -> None:
    column = Column("flag", kind)
    Table("json_refused", MetaData(), column)
    with pytest.raises(ValueError, match="only text, integers and times"):
        json_row([column], "sqlite")


def test_a_dialect_without_a_rendering_is_refused() -> None:
    with pytest.raises(ValueError, match="no JSON rendering for 'postgresql'"):
        json_row(things.columns, "postgresql")


def test_a_time_stored_in_another_format_on_sqlite_is_refused() -> None:
    own = sqlite.DATETIME(storage_format="%(year)04d%(month)02d%(day)02d")  # type: ignore[no-untyped-call]
    column = Column("at", DateTime().with_variant(own, "sqlite"))
    Table("json_own_format", MetaData(), column)
    with pytest.raises(ValueError, match="its own format"):
        json_row([column], "sqlite")
