"""Fixtures for the reference services' read sides: the query-model database, on the
embedded SQLite default and on MariaDB (a private database per test, dropped after)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from eventfold.sql import create_engine

MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306/test"


def _private_mysql_database() -> tuple[Engine, str]:
    server = create_engine(MYSQL_SERVER)
    try:
        with server.connect() as conn:
            name = f"ef_{uuid.uuid4().hex[:16]}"
            conn.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError as exc:
        server.dispose()
        reason = f"MariaDB is not reachable at 127.0.0.1:3306 ({exc.orig})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return server, name


@pytest.fixture(params=["sqlite", "mysql"])
def query_engine(request: pytest.FixtureRequest) -> Iterator[Engine | None]:
    """None: the embedded default (the event store's own SQLite file); else a MariaDB
    engine on a fresh database."""
    if request.param == "sqlite":
        yield None
        return
    server, name = _private_mysql_database()
    engine = create_engine(f"mysql+pymysql://root@127.0.0.1:3306/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        server.dispose()
