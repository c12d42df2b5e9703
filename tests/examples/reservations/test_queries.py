"""The reservation query API over HTTP, on the embedded SQLite query model and on MariaDB.

Writes go through the application functions with explicit times (so orderings are exact);
the projection is brought up to date explicitly (``catch_up``) so each test decides what the
query model has seen; reads go through the service's HTTP routes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from eventfold import CommandHandler, SqliteEventStore
from eventfold.sql import SqlProjection
from reservations import app
from reservations.domain.reservation import (
    Canceler,
    CancelReservation,
    CompletePickup,
    RequestReservation,
    SecureStock,
)
from reservations.domain.stock import SetStockLevel
from reservations.projection import query_model
from reservations.published_language import PROTOBUF_CODEC
from reservations.queries import StockLevel
from reservations.service import service
from tests.examples.problems import problem
from tests.examples.query_api import serve_queries

T0 = datetime(2026, 5, 10, 9, 0, tzinfo=UTC)


class World:
    """A store, its command handler, the query model and an HTTP client on the service."""

    def __init__(self, store: SqliteEventStore, engine: Engine | None, wait: float) -> None:
        self.store = store
        self.context, self.client = serve_queries(service, store, engine, read_wait=wait)
        self.handler: CommandHandler = app.make_handler(store, PROTOBUF_CODEC)
        self.view: SqlProjection = query_model(self.context, PROTOBUF_CODEC)
        self.minutes = 0

    def catch_up(self) -> None:
        """Apply every committed event to the query model (already applied ones are skipped)."""
        self.view.apply(self.store.read_all(0, limit=100_000))

    def stock(self, store_id: str, sku: str, on_hand: int) -> int:
        return app.set_stock_level(self.handler, SetStockLevel(store_id, sku, on_hand, T0))

    def reserve(self, rid: str, customer: str, store_id: str = "s1", sku: str = "k1") -> int:
        self.minutes += 1
        at = T0 + timedelta(minutes=self.minutes)
        command = RequestReservation(rid, customer, store_id, sku, 1, at)
        return app.request_reservation(self.handler, command).version

    def get(self, url: str, status: int = 200) -> Any:
        response = self.client.get(url)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def world(query_engine: Engine | None, store: SqliteEventStore) -> World:
    return World(store, query_engine, wait=0.05)


def ids(page: dict[str, Any]) -> list[str]:
    return [item["reservation_id"] for item in page["items"]]


def test_a_customer_sees_their_reservations_newest_first_in_pages(world: World) -> None:
    world.stock("s1", "k1", 10)
    world.stock("s2", "k1", 10)
    for rid, customer, store_id in [("r1", "c1", "s1"), ("r2", "c2", "s1"), ("r3", "c1", "s2")]:
        world.reserve(rid, customer, store_id)
    world.reserve("r4", "c1")
    world.catch_up()

    first = world.get("/customers/c1/reservations?limit=2")
    assert ids(first) == ["r4", "r3"]
    second = world.get(f"/customers/c1/reservations?limit=2&cursor={first['next_cursor']}")
    assert (ids(second), second["next_cursor"]) == (["r1"], None)
    assert world.get("/customers/nobody/reservations") == {"items": [], "next_cursor": None}


def test_one_reservation_carries_its_status_and_version(world: World) -> None:
    world.stock("s1", "k1", 10)
    world.reserve("r1", "c1")
    version = app.secure_stock(world.handler, SecureStock("r1", T0 + timedelta(hours=1)))
    world.catch_up()

    got = world.get("/reservations/r1")
    assert (got["status"], got["version"], version) == ("secured", 2, 2)
    assert got["secured_at"] == "2026-05-10T10:00:00Z"
    assert got["accepted_at"] == "2026-05-10T09:01:00Z"


def test_unknown_ids_are_404_problems(world: World) -> None:
    world.catch_up()
    for url in ("/reservations/nope", "/stores/s1/stock/nope"):
        response = world.client.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_store_staff_see_the_stock_to_secure_oldest_first(world: World) -> None:
    world.stock("s1", "k1", 10)
    world.stock("s2", "k1", 10)
    for rid in ("r1", "r2", "r3"):
        world.reserve(rid, "c1")
    world.reserve("r4", "c1", "s2")
    app.secure_stock(world.handler, SecureStock("r2", T0))
    world.catch_up()

    assert ids(world.get("/stores/s1/reservations")) == ["r1", "r3"]
    assert ids(world.get("/stores/s1/reservations?status=secured")) == ["r2"]
    paged = world.get("/stores/s1/reservations?limit=1")
    after = world.get(f"/stores/s1/reservations?limit=1&cursor={paged['next_cursor']}")
    assert (ids(paged), ids(after)) == (["r1"], ["r3"])


def test_support_searches_by_customer_store_status_and_time(world: World) -> None:
    world.stock("s1", "k1", 10)
    world.stock("s2", "k1", 10)
    world.reserve("r1", "c1")  # 09:01
    world.reserve("r2", "c2")  # 09:02
    world.reserve("r3", "c1", "s2")  # 09:03
    app.cancel_reservation(
        world.handler, CancelReservation("r1", Canceler.SUPPORT, "called in", T0)
    )
    world.catch_up()

    def search(query: str) -> list[str]:
        return ids(world.get("/backoffice/reservations?" + query))

    assert search("") == ["r3", "r2", "r1"]
    assert search("customer_id=c1") == ["r3", "r1"]
    assert search("store_id=s1&status=accepted") == ["r2"]
    assert search("from=2026-05-10T09:02:00Z&to=2026-05-10T18:03:00%2B09:00") == ["r2"]
    canceled = world.get("/reservations/r1")
    assert (canceled["status"], canceled["closed_by"], canceled["reason"]) == (
        "canceled",
        "support",
        "called in",
    )


def test_bad_search_parameters_are_one_422_listing_every_issue(world: World) -> None:
    response = world.client.get(
        "/backoffice/reservations?limit=0&status=lost&from=yesterday&to=2026-05-10T09:00:00"
        "&cursor=%21%21&min_version=x&customer_id=a%20b"
    )
    body = problem(response, 422)
    assert body["title"] == "The request is invalid"  # was "The command is invalid"
    paths = sorted(issue["path"] for issue in body["issues"])
    assert paths == [
        "query.cursor",
        "query.customer_id",
        "query.from",
        "query.limit",
        "query.min_version",
        "query.status",
        "query.to",
    ]


@pytest.mark.parametrize(
    "cursor",
    [
        "WyIxIiwgMV0",  # ["1", 1]: a time that is no time
        "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzIzOjAwIiwgInIiXQ",  # year 1 at +23:00: before UTC's
        "WzAsIDAsIDBd",  # [0, 0, 0]
        "bm90IGpzb24",  # not JSON
        "A",  # not base64
    ],
)
def test_a_forged_cursor_is_a_422_naming_it(world: World, cursor: str) -> None:
    body = problem(world.client.get(f"/backoffice/reservations?cursor={cursor}"), 422)
    assert [(i["path"], i["code"]) for i in body["issues"]] == [("query.cursor", "cursor_invalid")]


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("0001-01-01T00:00:00%2B23:59", "9999-12-31T23:59:59-23:59"),  # was a 500
        ("2026-05-10T10:00:00Z", "2026-05-10T09:00:00Z"),  # an empty range: nothing
    ],
)
def test_extreme_and_empty_time_ranges_are_answered(world: World, since: str, until: str) -> None:
    world.stock("s1", "k1", 5)
    world.reserve("r1", "c1")
    world.catch_up()
    page = world.get(f"/backoffice/reservations?from={since}&to={until}")
    assert len(ids(page)) == (1 if since.startswith("0001") else 0)


def test_min_version_on_a_list_needs_wait_for(world: World) -> None:
    body = problem(world.client.get("/customers/c1/reservations?min_version=1"), 422)
    assert [i["path"] for i in body["issues"]] == ["query.wait_for"]
    assert body["title"] == "The request is invalid"


def test_stock_shows_on_hand_held_and_available_with_its_version(world: World) -> None:
    world.stock("s1", "k1", 5)
    world.reserve("r1", "c1")
    world.reserve("r2", "c1")
    app.cancel_reservation(world.handler, CancelReservation("r1", Canceler.CUSTOMER, "no", T0))
    app.secure_stock(world.handler, SecureStock("r2", T0))
    app.complete_pickup(world.handler, CompletePickup("r2", T0))
    world.catch_up()

    got = world.get("/stores/s1/stock/k1")
    # stock stream: set 1, hold r1 2, hold r2 3, release r1 4, hand over r2 5
    expected = {"on_hand": 4, "held": 0, "available": 4, "version": 5}
    assert {k: got[k] for k in expected} == expected
    # the whole body is the model's, as the model would write it (rendered by the database)
    assert got == json.loads(StockLevel.model_validate(got).model_dump_json())
    assert list(got) == list(StockLevel.model_fields)
    assert (got["store_id"], got["sku"]) == ("s1", "k1")
    world.reserve("r3", "c2")
    world.catch_up()
    got = world.get("/stores/s1/stock/k1?min_version=6")
    assert (got["held"], got["available"], got["version"]) == (1, 3, 6)


def test_min_version_not_reached_in_time_is_a_503_problem_with_retry_after(world: World) -> None:
    world.stock("s1", "k1", 5)
    version = world.reserve("r1", "c1")

    response = world.client.get(f"/reservations/r1?min_version={version}")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert (body["stream_id"], body["min_version"], body["visible_version"]) == (
        "reservation-r1",
        1,
        0,
    )
    world.catch_up()
    assert world.get(f"/reservations/r1?min_version={version}")["version"] == version


def test_a_min_version_the_event_store_never_reached_is_a_404(world: World) -> None:
    world.stock("s1", "k1", 5)
    world.reserve("r1", "c1")

    never = world.client.get("/reservations/nope?min_version=1")
    assert never.status_code == 404
    assert never.headers["content-type"] == "application/problem+json"
    assert (never.json()["type"], never.json()["stream_id"]) == (
        "urn:eventfold:problem:stream-not-found",
        "reservation-nope",
    )
    beyond = world.client.get("/stores/s1/stock/k1?min_version=9")
    assert beyond.status_code == 404
    body = beyond.json()
    assert body["type"] == "urn:eventfold:problem:version-not-found"
    assert (body["stream_id"], body["min_version"], body["current_version"]) == (
        "stock-s1/k1",
        9,
        2,
    )
    listed = world.client.get("/customers/c1/reservations?wait_for=nope&min_version=1")
    assert listed.status_code == 404


def test_lists_wait_for_the_reservation_they_name(world: World) -> None:
    world.stock("s1", "k1", 5)
    world.reserve("r1", "c1")
    early = world.client.get("/customers/c1/reservations?wait_for=r1&min_version=1")
    assert early.status_code == 503
    alone = world.client.get("/customers/c1/reservations?wait_for=r1")  # min_version 1
    assert alone.status_code == 503
    world.catch_up()
    page = world.get("/customers/c1/reservations?wait_for=r1&min_version=1")
    assert ids(page) == ["r1"]
