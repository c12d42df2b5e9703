"""The command API over HTTP (the app factory, a real SQLite store, a settable clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventfold import SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import Service, ServiceContext, create_app
from reservations.app import make_handler, reservation_of, reservation_stream, stock_of
from reservations.domain.reservation import HOLD_PERIOD
from reservations.http import router
from reservations.service import service
from tests.examples.callers import every_role
from tests.examples.problems import problem

START = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(
    store: SqliteEventStore, clock: Clock, token_issuer: TokenIssuer
) -> Iterator[TestClient]:
    timed = Service(
        name=service.name,
        codec=service.codec,
        categories=service.categories,
        routes=lambda ctx: router(make_handler(ctx.store, service.codec), clock=clock),
    )
    app = create_app([timed], ServiceContext(store), authentication=token_issuer.authentication)
    with TestClient(app, headers=every_role(token_issuer)) as test_client:
        yield test_client


def stocked(client: TestClient, on_hand: int = 5, store_id: str = "s1") -> None:
    response = client.put(f"/stores/{store_id}/stock/sku1", json={"on_hand": on_hand})
    assert response.status_code == 200, response.text


def reserve(client: TestClient, quantity: int = 1, **headers: str) -> Any:
    body = {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": quantity}
    return client.post("/reservations", json=body, headers=headers)


def test_the_service_mounts_through_its_entry_point_value(
    store: SqliteEventStore, token_issuer: TokenIssuer
) -> None:
    app = create_app([service], ServiceContext(store), authentication=token_issuer.authentication)
    with TestClient(app, headers=every_role(token_issuer)) as plain:
        response = plain.put("/stores/s1/stock/sku1", json={"on_hand": 3})
        assert response.json() == {"store_id": "s1", "sku": "sku1", "version": 1}
        created = reserve(plain)
    assert created.status_code == 201


def test_a_reservation_is_created_and_walks_to_pickup(
    client: TestClient, store: SqliteEventStore
) -> None:
    stocked(client)
    created = reserve(client, quantity=2)
    assert created.status_code == 201
    rid = created.json()["reservation_id"]
    assert created.json() == {"reservation_id": rid, "version": 1}
    assert client.post(f"/reservations/{rid}/secure").json() == {"version": 2}
    assert client.post(f"/reservations/{rid}/pickup").json() == {"version": 3}
    assert stock_of(make_handler(store, service.codec), "s1", "sku1").on_hand == 3


def test_cancel_and_reject_release_the_units(client: TestClient, store: SqliteEventStore) -> None:
    stocked(client, on_hand=2)
    first = reserve(client, quantity=2).json()["reservation_id"]
    problem(reserve(client, quantity=1), 409)
    cancel = {"reason": "customer called"}
    assert client.post(f"/reservations/{first}/cancel", json=cancel).status_code == 200
    second = reserve(client, quantity=2).json()["reservation_id"]
    rejected = client.post(f"/reservations/{second}/reject", json={"reason": "damaged"})
    assert rejected.json() == {"version": 2}
    assert stock_of(make_handler(store, service.codec), "s1", "sku1").available == 2


def test_expire_waits_for_the_hold_deadline(client: TestClient, clock: Clock) -> None:
    stocked(client)
    rid = reserve(client).json()["reservation_id"]
    early = problem(client.post(f"/reservations/{rid}/expire"), 409)
    assert early["issues"][0]["code"] == "not_due"
    clock.now = START + HOLD_PERIOD + timedelta(seconds=1)
    assert client.post(f"/reservations/{rid}/expire").json() == {"version": 2}


def test_an_unknown_store_is_404_and_writes_nothing(
    client: TestClient, store: SqliteEventStore
) -> None:
    stocked(client, store_id="other")
    body = problem(reserve(client), 404)
    assert body["stream_id"] == "stock-s1/sku1"
    assert store.head_position() == 1


def test_an_unknown_reservation_is_404(client: TestClient) -> None:
    problem(client.post("/reservations/nope/secure"), 404)


def test_out_of_stock_is_a_409_saying_so(client: TestClient) -> None:
    stocked(client, on_hand=1)
    body = problem(reserve(client, quantity=2), 409)
    assert body["issues"] == [
        {
            "path": "",
            "message": "only 1 of sku1 available at store s1, 2 requested",
            "code": "out_of_stock",
        }
    ]


def test_an_invalid_transition_is_a_409(client: TestClient) -> None:
    stocked(client)
    rid = reserve(client).json()["reservation_id"]
    body = problem(client.post(f"/reservations/{rid}/pickup"), 409)
    assert body["issues"][0]["code"] == "invalid_transition"


def test_every_bad_field_is_reported_at_once(client: TestClient, store: SqliteEventStore) -> None:
    body = {"customer_id": "", "store_id": "s 1", "sku": 7, "quantity": "2", "extra": 1}
    issues = problem(client.post("/reservations", json=body), 422)["issues"]
    assert {i["path"] for i in issues} == {
        "body.customer_id",
        "body.store_id",
        "body.sku",
        "body.quantity",
        "body.extra",
    }
    assert store.head_position() == 0


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "1", True, None, 100])
def test_quantity_is_an_integer_from_1_to_99(client: TestClient, quantity: object) -> None:
    body = {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": quantity}
    issues = problem(client.post("/reservations", json=body), 422)["issues"]
    assert [i["path"] for i in issues] == ["body.quantity"]


def test_a_whole_number_written_as_a_float_is_an_integer(
    client: TestClient, store: SqliteEventStore
) -> None:
    # JSON Schema (and so the OpenAPI document) counts 2.0 as an integer; it was a 422.
    stocked = client.put("/stores/s1/stock/sku1", json={"on_hand": 5.0})
    assert stocked.json() == {"store_id": "s1", "sku": "sku1", "version": 1}
    body = {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": 2.0}
    created = client.post("/reservations", json=body)
    assert created.status_code == 201, created.text
    rid = created.json()["reservation_id"]
    assert created.json() == {"reservation_id": rid, "version": 1}
    # The store holds the integers 5 and 2 (as the domain's ints), not 5.0 and 2.0.
    handler = make_handler(store, service.codec)
    stock = stock_of(handler, "s1", "sku1")
    assert (stock.on_hand, stock.held) == (5, 2)
    reserved = reservation_of(handler, rid)
    assert reserved.quantity == 2
    assert type(stock.on_hand) is type(reserved.quantity) is int


def test_bad_path_ids_and_bodies_are_422(client: TestClient) -> None:
    problem(client.put("/stores/s%201/stock/sku1", json={"on_hand": 1}), 422)
    problem(client.put("/stores/s1/stock/sku1", json={"on_hand": -1}), 422)
    problem(client.post("/reservations/r1/cancel", json={"reason": ""}), 422)


def test_a_retry_with_the_same_key_returns_the_first_reservation(
    client: TestClient, store: SqliteEventStore
) -> None:
    stocked(client)
    first = reserve(client, quantity=2, **{"Idempotency-Key": "k-1"})
    again = reserve(client, quantity=2, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert stock_of(make_handler(store, service.codec), "s1", "sku1").held == 2
    assert store.load(reservation_stream(first.json()["reservation_id"])) is not None


def test_the_same_key_with_another_body_is_refused(client: TestClient) -> None:
    stocked(client)
    reserve(client, quantity=2, **{"Idempotency-Key": "k-1"})
    body = problem(reserve(client, quantity=1, **{"Idempotency-Key": "k-1"}), 422)
    assert body["type"].endswith("idempotency-key-reused")


def test_a_retried_transition_returns_the_same_version(client: TestClient) -> None:
    stocked(client)
    rid = reserve(client).json()["reservation_id"]
    cancel = {"reason": "oops"}
    headers = {"Idempotency-Key": "cancel-1"}
    first = client.post(f"/reservations/{rid}/cancel", json=cancel, headers=headers)
    again = client.post(f"/reservations/{rid}/cancel", json=cancel, headers=headers)
    assert first.json() == again.json() == {"version": 2}


@pytest.mark.parametrize("bad", ["x" * 65, "a b", "-lead", "ü", ""])
def test_ids_in_bodies_are_limited_in_length_and_alphabet(client: TestClient, bad: str) -> None:
    body = {"customer_id": bad, "store_id": "s1", "sku": "sku1", "quantity": 1}
    issues = problem(client.post("/reservations", json=body), 422)["issues"]
    assert [i["path"] for i in issues] == ["body.customer_id"]


@pytest.mark.parametrize("bad", ["x" * 65, "a%20b", "-lead", "%C3%BC"])
def test_ids_in_paths_are_limited_in_length_and_alphabet(client: TestClient, bad: str) -> None:
    issues = problem(client.put(f"/stores/{bad}/stock/sku1", json={"on_hand": 1}), 422)["issues"]
    assert [i["path"] for i in issues] == ["path.store_id"]


def test_a_wrong_method_lists_every_method_of_the_path(
    store: SqliteEventStore, token_issuer: TokenIssuer
) -> None:
    app = create_app([service], ServiceContext(store), authentication=token_issuer.authentication)
    with TestClient(app) as plain:
        response = plain.delete("/stores/s1/stock/sku1")
    problem(response, 405)
    assert response.headers["allow"] == "GET, PUT"  # was "PUT": the command route's only
