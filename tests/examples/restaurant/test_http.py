"""The restaurant command API over HTTP, through the app factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventfold import SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app
from restaurant.service import service
from tests.examples.callers import every_role
from tests.examples.problems import problem


@pytest.fixture
def client(store: SqliteEventStore, token_issuer: TokenIssuer) -> Iterator[TestClient]:
    app = create_app([service], ServiceContext(store), authentication=token_issuer.authentication)
    with TestClient(app, headers=every_role(token_issuer)) as test_client:
        yield test_client


def opened(client: TestClient) -> str:
    created = client.post("/restaurants", json={"name": "Sushi Dai"})
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    rid: str = created.json()["restaurant_id"]
    return rid


def add(client: TestClient, rid: str, version: int, *items: dict[str, Any], **kw: Any) -> Any:
    body = {"aggregate_version": version, "items": list(items)}
    return client.post(f"/restaurants/{rid}/items", json=body, **kw)


def remove(client: TestClient, rid: str, version: int, *item_ids: str) -> Any:
    body = {"aggregate_version": version, "item_ids": list(item_ids)}
    return client.request("DELETE", f"/restaurants/{rid}/items", json=body)


RAMEN = {"name": "Ramen", "price": 900}
GYOZA = {"name": "Gyoza", "price": 500}


def test_a_menu_is_edited_in_batches_with_the_version_the_client_saw(
    client: TestClient, store: SqliteEventStore
) -> None:
    rid = opened(client)
    added = add(client, rid, 1, RAMEN, GYOZA)
    assert added.status_code == 201, added.text
    item_ids = added.json()["item_ids"]
    assert added.json() == {"item_ids": item_ids, "version": 3}
    assert len(set(item_ids)) == 2
    removed = remove(client, rid, 3, *item_ids)
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"version": 5}
    types = [e.type for e in store.read(f"restaurant-{rid}")]
    assert types == ["RestaurantCreated", "ItemAdded", "ItemAdded", "ItemRemoved", "ItemRemoved"]


def test_a_stale_version_is_409(client: TestClient) -> None:
    rid = opened(client)
    add(client, rid, 1, RAMEN)
    body = problem(add(client, rid, 1, GYOZA), 409)
    assert (body["expected_version"], body["actual_version"]) == (1, 2)
    problem(remove(client, rid, 1, "x"), 409)


def test_an_unknown_restaurant_is_404(client: TestClient) -> None:
    problem(add(client, "nope", 1, RAMEN), 404)
    problem(remove(client, "nope", 1, "x"), 404)


def test_every_issue_of_every_item_is_listed(client: TestClient, store: SqliteEventStore) -> None:
    rid = opened(client)
    # what the schema states (name, price) is checked for every item before the command
    bad = [{"name": " ", "price": 0}, RAMEN, {"name": "Udon", "price": 2_000_000}]
    body = problem(add(client, rid, 1, *bad), 422)
    assert [i["path"] for i in body["issues"]] == [
        "body.items.0.name",
        "body.items.0.price",
        "body.items.2.price",
    ]
    # the menu's own rules (no name twice), by the decider, for every item
    add(client, rid, 1, RAMEN)
    body = problem(add(client, rid, 2, GYOZA, RAMEN, GYOZA), 422)
    assert [(i["path"], i["code"]) for i in body["issues"]] == [
        ("items.1.name", "duplicate"),
        ("items.2.name", "duplicate"),
    ]
    assert store.head_position() == 2  # nothing of a refused batch was appended


def test_every_id_not_on_the_menu_is_listed(client: TestClient, store: SqliteEventStore) -> None:
    rid = opened(client)
    (ramen,) = add(client, rid, 1, RAMEN).json()["item_ids"]
    body = problem(remove(client, rid, 2, "nope", ramen, "gone"), 422)
    assert [(i["path"], i["code"]) for i in body["issues"]] == [
        ("item_ids.0", "no_such_item"),
        ("item_ids.2", "no_such_item"),
    ]
    assert store.head_position() == 2


@pytest.mark.parametrize("name", ["Ra\x00men", "\x07", "a\u202eb", "\u200b"])
def test_a_name_with_control_characters_is_422(client: TestClient, name: str) -> None:
    # A NUL was accepted and stored.
    body = problem(client.post("/restaurants", json={"name": name}), 422)
    assert [i["path"] for i in body["issues"]] == ["body.name"]
    rid = opened(client)
    body = problem(add(client, rid, 1, RAMEN, {"name": name, "price": 900}), 422)
    assert [i["path"] for i in body["issues"]] == ["body.items.1.name"]


def test_wrong_types_empty_batches_and_a_missing_version_are_422(client: TestClient) -> None:
    rid = opened(client)
    response = client.post(f"/restaurants/{rid}/items", json={"items": [{"name": 1, "price": "9"}]})
    assert {i["path"] for i in problem(response, 422)["issues"]} == {
        "body.items.0.name",
        "body.items.0.price",
        "body.aggregate_version",
    }
    assert [i["path"] for i in problem(add(client, rid, 1), 422)["issues"]] == ["body.items"]
    assert [i["path"] for i in problem(remove(client, rid, 1), 422)["issues"]] == ["body.item_ids"]
    no_body = client.request("DELETE", f"/restaurants/{rid}/items")
    problem(no_body, 422)


def test_a_retried_add_returns_the_same_items(client: TestClient) -> None:
    rid = opened(client)
    headers = {"Idempotency-Key": "add-ramen"}
    first = add(client, rid, 1, RAMEN, GYOZA, headers=headers)
    again = add(client, rid, 1, RAMEN, GYOZA, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()


def test_an_offset_past_the_bound_is_422_not_a_500(client: TestClient) -> None:
    response = client.get("/restaurants", params={"offset": str(2**63)})
    assert response.status_code == 422, response.text
    assert response.json()["issues"][0]["path"] == "query.offset"
