"""Fixtures for the reference services' read sides: the query-model database, on the
embedded SQLite default and on MariaDB (a private database per test, dropped after: the
shared ``mysql_url`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from eventfold.sql import create_engine
from tests.eventfold.adapters.projections.backends import engine, mysql_url

__all__ = ["engine", "mysql_url", "query_engine"]


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
