"""Extending a reservation's hold: the worked example of docs/tutorial.md (one command, one
event, one query column). Decided by the reservation decider, sent through the HTTP route
by staff of the store, shown by the query API, honoured by the expiry job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from eventfold import SqliteEventStore
from eventfold.testing import TokenIssuer, spec
from eventfold.web import Service, ServiceContext, create_app, migrate_query_model
from reservations import app
from reservations.domain.reservation import (
    HOLD_PERIOD,
    ExtendHold,
    HoldExtended,
    ReservationAccepted,
    ReservationExpired,
    StockSecured,
    reservation,
)
from reservations.expiry import expire_due
from reservations.http import router
from reservations.projection import query_model
from reservations.published_language import PROTOBUF_CODEC
from reservations.queries import query_routes
from reservations.service import service
from tests.examples.callers import every_role
from tests.examples.problems import problem

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ACCEPTED = ReservationAccepted("r1", "c1", "s1", "sku1", 2, T0, T0 + HOLD_PERIOD)


# -- the decider ---------------------------------------------------------------------------


def test_an_extension_moves_the_deadline_on_by_its_days() -> None:
    extended = spec(reservation).given(ACCEPTED).when(ExtendHold("r1", 3, T0))
    state = extended.then(HoldExtended("r1", T0 + HOLD_PERIOD + timedelta(days=3), T0))
    assert state.hold_until == T0 + HOLD_PERIOD + timedelta(days=3)


def test_a_deadline_that_passed_is_extended_from_now() -> None:
    late = T0 + HOLD_PERIOD + timedelta(days=2)
    extended = (
        spec(reservation).given(ACCEPTED, StockSecured("r1", T0)).when(ExtendHold("r1", 1, late))
    )
    extended.then(HoldExtended("r1", late + timedelta(days=1), late))


def test_only_a_holding_reservation_is_extended_and_by_1_to_14_days() -> None:
    expired = spec(reservation).given(ACCEPTED, ReservationExpired("r1", T0 + HOLD_PERIOD))
    expired.when(ExtendHold("r1", 1, T0)).raises(Exception, "is expired: it cannot be extended")
    spec(reservation).when(ExtendHold("r1", 1, T0)).raises(Exception, "does not exist")
    for days in (0, 15):
        too = spec(reservation).given(ACCEPTED).when(ExtendHold("r1", days, T0))
        too.raises(Exception, "must be between 1 and 14")


# -- the service: route, policy, query column, expiry --------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(store: SqliteEventStore) -> ServiceContext:
    context = ServiceContext(store)
    migrate_query_model([service], context)
    return context


@pytest.fixture
def client(
    context: ServiceContext, clock: Clock, token_issuer: TokenIssuer
) -> Iterator[TestClient]:
    def routes(ctx: ServiceContext) -> APIRouter:
        commands = router(app.make_handler(ctx.store, PROTOBUF_CODEC), clock=clock)
        commands.include_router(query_routes(ctx, PROTOBUF_CODEC))
        return commands

    timed = Service(
        name=service.name,
        codec=service.codec,
        categories=service.categories,
        routes=routes,
        migrations=service.migrations,
    )
    created = create_app([timed], context, authentication=token_issuer.authentication)
    with TestClient(created, headers=every_role(token_issuer)) as test_client:
        yield test_client


def reserve(client: TestClient) -> str:
    stocked = client.put("/stores/s1/stock/sku1", json={"on_hand": 5})
    assert stocked.status_code == 200, stocked.text
    body = {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": 2}
    created = client.post("/reservations", json=body)
    assert created.status_code == 201, created.text
    rid: str = created.json()["reservation_id"]
    return rid


def test_staff_extend_a_hold_and_the_query_api_shows_the_new_deadline(
    client: TestClient, context: ServiceContext, clock: Clock, store: SqliteEventStore
) -> None:
    rid = reserve(client)
    clock.now = T0 + timedelta(days=1)

    extended = client.post(f"/reservations/{rid}/extend", json={"days": 3})

    assert extended.status_code == 200, extended.text
    assert extended.json() == {"version": 2}
    query_model(context, PROTOBUF_CODEC).apply(store.read_all(0, limit=1000))
    seen = client.get(f"/reservations/{rid}?min_version=2").json()
    assert datetime.fromisoformat(seen["hold_until"]) == T0 + HOLD_PERIOD + timedelta(days=3)
    assert datetime.fromisoformat(seen["extended_at"]) == clock.now
    assert seen["status"] == "accepted"


def test_the_expiry_job_waits_for_the_extended_deadline(
    client: TestClient, context: ServiceContext, store: SqliteEventStore
) -> None:
    rid = reserve(client)
    assert client.post(f"/reservations/{rid}/extend", json={"days": 2}).status_code == 200
    view = query_model(context, PROTOBUF_CODEC)
    view.apply(store.read_all(0, limit=1000))
    handler = app.make_handler(store, PROTOBUF_CODEC)
    engine = view.engine

    assert expire_due(handler, engine, T0 + HOLD_PERIOD + timedelta(days=1)) == []
    assert expire_due(handler, engine, T0 + HOLD_PERIOD + timedelta(days=2)) == [rid]


def test_only_staff_of_the_store_extend_and_bad_days_are_422(
    client: TestClient, token_issuer: TokenIssuer
) -> None:
    rid = reserve(client)
    url = f"/reservations/{rid}/extend"
    customer = token_issuer.headers("c1", "customer")
    other_store = token_issuer.headers("clerk-2", "staff", stores=["s2"])

    assert client.post(url, json={"days": 1}, headers=customer).status_code == 403
    assert client.post(url, json={"days": 1}, headers=other_store).status_code == 404
    issues = problem(client.post(url, json={"days": 15}), 422)["issues"]
    assert [issue["path"] for issue in issues] == ["body.days"]
