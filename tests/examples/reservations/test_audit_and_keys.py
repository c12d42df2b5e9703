"""The audit trail (who sent each command, with which Idempotency-Key) and client keys
scoped to their caller, through the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from eventfold import SqliteEventStore
from eventfold.entry.http.callers import authenticated, public
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, installed_services, migrate_query_model
from reservations.app import make_handler, reservation_stream
from reservations.domain.reservation import HOLD_PERIOD
from reservations.expiry import expire_due
from reservations.projection import query_model
from reservations.published_language import PROTOBUF_CODEC
from reservations.service import service


@pytest.fixture
def client(store: SqliteEventStore, token_issuer: TokenIssuer) -> Iterator[TestClient]:
    app = create_app([service], ServiceContext(store), authentication=token_issuer.authentication)
    with TestClient(app) as test_client:
        feed = token_issuer.headers("feed-1", "inventory")
        stocked = test_client.put("/stores/s1/stock/sku1", json={"on_hand": 10}, headers=feed)
        assert stocked.status_code == 200, stocked.text
        yield test_client


def reserve(client: TestClient, issuer: TokenIssuer, customer: str, key: str) -> str:
    headers = {**issuer.headers(customer, "customer"), "Idempotency-Key": key}
    body = {"store_id": "s1", "sku": "sku1", "quantity": 1}
    placed = client.post("/reservations", json=body, headers=headers)
    assert placed.status_code == 201, placed.text
    return str(placed.json()["reservation_id"])


def test_every_event_records_the_actor_and_the_key(
    client: TestClient, store: SqliteEventStore, token_issuer: TokenIssuer
) -> None:
    rid = reserve(client, token_issuer, "c1", "order-7")
    events = store.read(reservation_stream(rid))
    stock_events = store.read("stock-s1/sku1")
    for event in [*events, stock_events[-1]]:  # the hold on the stock too
        assert event.metadata["actor"] == "c1"
        assert event.metadata["actor_roles"] == "customer"
        assert event.metadata["idempotency_key"] == "order-7"
    assert stock_events[0].metadata["actor"] == "feed-1"
    assert "idempotency_key" not in stock_events[0].metadata


def test_two_callers_may_use_the_same_key(client: TestClient, token_issuer: TokenIssuer) -> None:
    mine = reserve(client, token_issuer, "c1", "0")
    theirs = reserve(client, token_issuer, "c2", "0")
    assert mine != theirs  # the second is its own reservation, not the first one's replay
    assert reserve(client, token_issuer, "c1", "0") == mine  # a retry is still a retry


def test_a_clients_key_cannot_take_the_services_own_command_id(
    client: TestClient, store: SqliteEventStore, token_issuer: TokenIssuer
) -> None:
    rid = reserve(client, token_issuer, "c1", "k")
    # Before: this key became the command id the expiry job uses, so the reservation could
    # never expire (its units stayed held).
    staff = {**token_issuer.headers("clerk", "staff", stores=["s1"])}
    staff["Idempotency-Key"] = f"expire-{rid}"
    assert client.post(f"/reservations/{rid}/secure", headers=staff).status_code == 200

    handler = make_handler(store, PROTOBUF_CODEC)
    context = ServiceContext(store)
    migrate_query_model([service], context)
    view = query_model(context, PROTOBUF_CODEC)  # the job reads due reservations from it
    view.apply(store.read_all(0, limit=1000))
    due = datetime.now(UTC) + HOLD_PERIOD + timedelta(minutes=1)
    expired = expire_due(handler, view.engine, due)
    assert expired == [rid]
    last = store.read(reservation_stream(rid))[-1]
    assert last.type == "ReservationExpired"
    assert last.metadata["actor_roles"] == "service"


def test_every_route_has_a_caller_or_is_public(
    store: SqliteEventStore, token_issuer: TokenIssuer
) -> None:
    app = create_app(
        installed_services(), ServiceContext(store), authentication=token_issuer.authentication
    )
    unmarked, checked = [], []
    # Every route, those of included routers too (with their routers' dependencies):
    # app.routes alone holds the services' routers as a few opaque entries.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue  # /openapi.json and the docs' assets: public by design
        name = f"{sorted(route.methods or ())} {route.path}"
        checked.append(name)
        calls = {d.call for d in _dependencies(route.dependant)}
        if authenticated not in calls and public not in calls:
            unmarked.append(name)
    assert unmarked == []
    assert "['POST'] /reservations" in checked  # the services' routes were walked


def _dependencies(dependant: Dependant) -> list[Dependant]:
    found: list[Dependant] = []
    for sub in getattr(dependant, "dependencies", []):
        found.append(sub)
        found.extend(_dependencies(sub))
    return found
