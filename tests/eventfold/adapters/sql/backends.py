"""The SQL backends the query-model tests run on: a SQLite file in tmp_path, and a fresh
MariaDB database per test (``ef_<random>`` at 127.0.0.1:3306, dropped afterwards), so
xdist workers never share tables. MariaDB missing: the test fails under CI, else skips
saying why."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import Engine

from eventfold.sql import create_engine, sqlite_url

MYSQL_HOST, MYSQL_PORT, MYSQL_USER = "127.0.0.1", 3306, "root"


def _mysql_unavailable(reason: str) -> None:
    message = f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT} is unreachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must provide it")
    print(message + "; skipping")
    pytest.skip(message)


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """The URL of a fresh, empty MariaDB database, dropped after the test."""
    name = f"ef_{uuid.uuid4().hex[:12]}"
    try:
        admin = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER)
    except pymysql.err.OperationalError as exc:
        _mysql_unavailable(str(exc))
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{name}?charset=utf8mb4"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on each backend (the test runs once per backend)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "eventfold.db")
    else:
        url = request.getfixturevalue("mysql_url")
    engine = create_engine(url)
    yield engine
    engine.dispose()
