"""The reservations service's migrations make exactly the query tables its projection declares,
on SQLite and MariaDB; a column added to projection.py without a revision fails here."""

from __future__ import annotations

from sqlalchemy import Engine

from reservations.projection import metadata
from reservations.service import service
from tests.examples.migrations import assert_migrations_make_exactly


def test_the_migrations_make_exactly_the_declared_tables(engine: Engine) -> None:
    assert_migrations_make_exactly(engine, service, metadata)
