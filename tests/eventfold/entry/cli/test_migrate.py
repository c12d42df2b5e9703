"""``eventfold migrate`` and the startup migrations of the installed reference services, on
the embedded SQLite query model and on MariaDB; ``eventfold rebuild`` on migrated tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from catalog import projection as catalog_view
from eventfold import SqliteEventStore
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.sql import create_engine, schema_differences, sqlite_url
from reservations import app as reservations_app
from reservations import projection
from reservations.domain.reservation import RequestReservation
from reservations.domain.stock import SetStockLevel
from reservations.published_language import PROTOBUF_CODEC
from reservations.service import service as reservations_service
from restaurant import projection as restaurant_view
from tests.eventfold.adapters.sql.backends import mysql_url
from tests.examples.migrations import revisions_in

__all__ = ["mysql_url"]

T0 = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)
assert reservations_service.migrations is not None
RESERVATIONS = revisions_in(reservations_service.migrations)
"""The reservation service's revisions (reservations0001, ...), read off its folder."""


class Home:
    """An EVENTFOLD_HOME with the installed services, on SQLite or a MariaDB query model."""

    def __init__(self, folder: Path, query_url: str | None) -> None:
        self.folder = folder
        self.environ = {"EVENTFOLD_HOME": str(folder), "EVENTFOLD_MAIL_SINK": "off"}
        if query_url:
            self.environ["EVENTFOLD_QUERY_URL"] = query_url
        # The embedded query model lives beside the event store (eventfold.db).
        self.engine = create_engine(query_url or sqlite_url(folder / "eventfold-query.db"))

    def invoke(self, *args: str, **more: str) -> str:
        context = CliContext(environ={**self.environ, **more})
        result = CliRunner().invoke(app, list(args), obj=context)
        assert result.exit_code == 0, result.output
        return result.output

    def applied(self, *args: str, **more: str) -> list[str]:
        """The revision ids ``eventfold migrate`` reports applying."""
        lines = self.invoke("migrate", *args, **more).splitlines()
        return sorted(ln.split()[2] for ln in lines if ln.startswith("applied "))


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Home]:
    url = request.getfixturevalue("mysql_url") if request.param == "mysql" else None
    made = Home(tmp_path, url)
    yield made
    made.engine.dispose()


def test_migrate_applies_every_service_once_then_reports_up_to_date(home: Home) -> None:
    first = home.applied()
    second = home.invoke("migrate")

    assert first == sorted(["ef0001", "ef0002", "catalog0001", *RESERVATIONS, "restaurant0001"])
    assert "up to date, nothing to apply" in second
    assert "applied" not in second.replace("nothing to apply", "")
    for metadata in (projection.metadata, catalog_view.metadata, restaurant_view.metadata):
        assert schema_differences(home.engine, metadata) == []


def test_services_migrated_separately_then_together(home: Home) -> None:
    assert home.applied(EVENTFOLD_SERVICES="catalog") == ["catalog0001", "ef0001", "ef0002"]
    assert home.applied(EVENTFOLD_SERVICES="restaurant") == ["restaurant0001"]
    assert home.applied() == RESERVATIONS
    assert home.applied(EVENTFOLD_SERVICES="catalog") == []
    assert home.applied(EVENTFOLD_SERVICES="restaurant,catalog") == []


def test_rebuild_refills_the_migrated_tables_and_keeps_their_schema(home: Home) -> None:
    home.invoke("migrate")
    store = SqliteEventStore(home.folder / "eventfold.db", durability="normal")
    handler = reservations_app.make_handler(store, PROTOBUF_CODEC)
    reservations_app.set_stock_level(handler, SetStockLevel("s1", "k1", 5, T0))
    for n in range(3):
        command = RequestReservation(f"r{n}", f"c{n}", "s1", "k1", 1, T0)
        reservations_app.request_reservation(handler, command)
    store.close()

    for _ in range(2):  # a second rebuild replaces the swapped-in tables again
        output = home.invoke("rebuild", "reservations_view", EVENTFOLD_SERVICES="reservations")
        assert "rebuilt reservations_view" in output

    assert count(home.engine, "reservations") == 3
    assert count(home.engine, "stock_levels") == 1
    assert schema_differences(home.engine, projection.metadata) == []
    assert home.applied() == []


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        found = conn.execute(select(func.count()).select_from(projection.metadata.tables[table]))
        return int(found.scalar_one())
