"""The restaurant command API over HTTP, through the app factory."""

from __future__ import annotations

from collections.abc import Iterator

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


def test_a_menu_is_edited_with_the_version_the_client_saw(client: TestClient) -> None:
    rid = opened(client)
    added = client.post(
        f"/restaurants/{rid}/items", json={"name": "Ramen", "price": 900, "expected_version": 1}
    )
    assert added.status_code == 201
    item_id = added.json()["item_id"]
    assert added.json() == {"item_id": item_id, "version": 2}
    removed = client.delete(f"/restaurants/{rid}/items/{item_id}", params={"expected_version": 2})
    assert removed.json() == {"version": 3}


def test_a_stale_version_is_409(client: TestClient) -> None:
    rid = opened(client)
    item = {"name": "Ramen", "price": 900, "expected_version": 1}
    client.post(f"/restaurants/{rid}/items", json=item)
    stale = {"name": "Gyoza", "price": 500, "expected_version": 1}
    body = problem(client.post(f"/restaurants/{rid}/items", json=stale), 409)
    assert (body["expected_version"], body["actual_version"]) == (1, 2)
    problem(client.delete(f"/restaurants/{rid}/items/x", params={"expected_version": 1}), 409)


def test_an_unknown_restaurant_is_404(client: TestClient) -> None:
    item = {"name": "Ramen", "price": 900, "expected_version": 1}
    problem(client.post("/restaurants/nope/items", json=item), 404)


def test_every_domain_issue_is_listed(client: TestClient, store: SqliteEventStore) -> None:
    rid = opened(client)
    item = {"name": " ", "price": 0, "expected_version": 1}
    body = problem(client.post(f"/restaurants/{rid}/items", json=item), 422)
    assert [i["path"] for i in body["issues"]] == ["body.name", "body.price"]
    assert store.head_position() == 1


@pytest.mark.parametrize("name", ["Ra\x00men", "\x07", "a\u202eb", "\u200b"])
def test_a_name_with_control_characters_is_422(client: TestClient, name: str) -> None:
    # A NUL was accepted and stored.
    body = problem(client.post("/restaurants", json={"name": name}), 422)
    assert [i["path"] for i in body["issues"]] == ["body.name"]
    rid = opened(client)
    item = {"name": name, "price": 900, "expected_version": 1}
    body = problem(client.post(f"/restaurants/{rid}/items", json=item), 422)
    assert [i["path"] for i in body["issues"]] == ["body.name"]


def test_wrong_types_and_a_missing_version_are_422(client: TestClient) -> None:
    rid = opened(client)
    body = problem(client.post(f"/restaurants/{rid}/items", json={"name": 1, "price": "9"}), 422)
    assert {i["path"] for i in body["issues"]} == {
        "body.name",
        "body.price",
        "body.expected_version",
    }
    problem(client.delete(f"/restaurants/{rid}/items/x"), 422)


def test_a_retried_add_returns_the_same_item(client: TestClient) -> None:
    rid = opened(client)
    item = {"name": "Ramen", "price": 900, "expected_version": 1}
    headers = {"Idempotency-Key": "add-ramen"}
    first = client.post(f"/restaurants/{rid}/items", json=item, headers=headers)
    again = client.post(f"/restaurants/{rid}/items", json=item, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()


def test_an_offset_past_the_bound_is_422_not_a_500(client: TestClient) -> None:
    response = client.get("/restaurants", params={"offset": str(2**63)})
    assert response.status_code == 422, response.text
    assert response.json()["issues"][0]["path"] == "query.offset"
