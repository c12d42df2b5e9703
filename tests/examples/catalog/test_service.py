"""The catalog on a real SQLite store, through the app function and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from catalog.app import item_stream, make_handler, register
from catalog.domain import ItemRegistered
from catalog.service import service
from eventfold import IdempotencyKeyReused, InvalidCommand, Origin, SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app
from tests.examples.callers import every_role
from tests.examples.problems import problem


@pytest.fixture
def client(store: SqliteEventStore, token_issuer: TokenIssuer) -> Iterator[TestClient]:
    app = create_app([service], ServiceContext(store), authentication=token_issuer.authentication)
    with TestClient(app, headers=every_role(token_issuer)) as test_client:
        yield test_client


def test_register_commits_one_event(store: SqliteEventStore) -> None:
    handler = make_handler(store)
    assert register(handler, "i1", "Tote bag", 3300).version == 1
    (event,) = store.read(item_stream("i1"))
    assert handler.codec.decode(event) == ItemRegistered("i1", "Tote bag", 3300)


def test_an_invalid_item_writes_nothing(store: SqliteEventStore) -> None:
    with pytest.raises(InvalidCommand):
        register(make_handler(store), "i1", "", -1)
    assert store.head_position() == 0


def test_a_retry_returns_the_first_item_and_a_reused_key_is_refused(
    store: SqliteEventStore,
) -> None:
    handler = make_handler(store)
    tote = Origin(command_id="k", request_digest="tote")
    first = register(handler, "i1", "Tote bag", 3300, tote)
    assert register(handler, "i2", "Tote bag", 3300, tote) == first
    with pytest.raises(IdempotencyKeyReused):
        register(handler, "i3", "Cap", 2000, Origin(command_id="k", request_digest="cap"))


def test_post_registers_an_item(client: TestClient, store: SqliteEventStore) -> None:
    response = client.post("/catalog/items", json={"name": "Tote bag", "price": 3300})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"item_id", "version"}
    assert body["version"] == 1
    (event,) = store.read(item_stream(body["item_id"]))
    assert make_handler(store).codec.decode(event) == ItemRegistered(
        body["item_id"], "Tote bag", 3300
    )


def test_every_domain_issue_comes_back_in_one_422(client: TestClient) -> None:
    body = problem(client.post("/catalog/items", json={"name": "", "price": 0}), 422)
    assert [(i["path"], i["code"]) for i in body["issues"]] == [
        ("body.name", "string_pattern_mismatch"),  # the schema states the value objects' rules
        ("body.price", "greater_than_equal"),
    ]


def test_wrong_json_types_are_422_listing_each(client: TestClient) -> None:
    body = problem(client.post("/catalog/items", json={"name": 5, "price": "3300"}), 422)
    assert {i["path"] for i in body["issues"]} == {"body.name", "body.price"}


def test_a_retried_post_returns_the_same_item(client: TestClient) -> None:
    item = {"name": "Tote bag", "price": 3300}
    first = client.post("/catalog/items", json=item, headers={"Idempotency-Key": "k"})
    again = client.post("/catalog/items", json=item, headers={"Idempotency-Key": "k"})
    assert again.json() == first.json()
    other = {"name": "Cap", "price": 2000}
    problem(client.post("/catalog/items", json=other, headers={"Idempotency-Key": "k"}), 422)


@pytest.mark.parametrize("offset", ["100001", str(2**63)])
def test_an_offset_past_the_bound_is_422_not_a_scan_or_a_500(
    client: TestClient, offset: str
) -> None:
    response = client.get("/catalog/items", params={"offset": offset})
    assert response.status_code == 422, response.text
    assert response.json()["issues"][0]["path"] == "query.offset"
