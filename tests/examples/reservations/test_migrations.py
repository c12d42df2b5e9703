"""The reservations service's migrations make exactly the query tables its projection declares,
on SQLite and MariaDB; a column added to projection.py without a revision fails here."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from eventfold.sql import migrate, schema_differences
from reservations.projection import metadata
from reservations.service import service
from tests.eventfold.adapters.projections.backends import engine, mysql_url

__all__ = ["engine", "mysql_url"]


def folder() -> Path:
    assert service.migrations is not None, "the service declares no migrations folder"
    return service.migrations


def test_the_migrations_make_exactly_the_declared_tables(engine: Engine) -> None:
    applied = migrate(engine, folder())

    assert [a.revision for a in applied if a.branch == "reservations"] == ["reservations0001"]
    assert schema_differences(engine, metadata) == []
    assert migrate(engine, folder()) == []
