"""Fixtures for the reference services: their SQLite event store, and for their read sides
the query-model database, on the embedded SQLite default and on MariaDB (a private database
per test, dropped after: the shared ``mysql_url`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventfold import SqliteEventStore
from eventfold.sql import create_engine
from tests.eventfold.adapters.sql.backends import engine, mysql_url
from tests.sqlite_support import sqlite_store

__all__ = ["engine", "mysql_url", "query_engine", "store"]

# The shared problem() helper's asserts explain themselves like a test module's own.
pytest.register_assert_rewrite("tests.examples.problems")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    """A real SQLite event store in tmp_path, durability "normal"."""
    yield from sqlite_store(tmp_path, "normal")


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def query_engine(request: pytest.FixtureRequest) -> Iterator[Engine | None]:
    """None: the embedded default (the event store's own SQLite file); else a MariaDB
    engine on a fresh database."""
    if request.param == "sqlite":
        yield None
        return
    mysql = create_engine(request.getfixturevalue("mysql_url"))
    yield mysql
    mysql.dispose()
