"""The restaurant query API over HTTP, on the embedded SQLite query model and on MariaDB."""

from __future__ import annotations

from sqlalchemy import Engine

from eventfold import SqliteEventStore
from restaurant import app
from restaurant.app import JSON_CODEC
from restaurant.domain import AddItems, CreateRestaurant, NewItem, RemoveItems
from restaurant.projection import query_model
from restaurant.service import service
from tests.examples.query_api import serve_queries


def test_restaurants_and_menus_come_from_the_query_tables(
    query_engine: Engine | None, store: SqliteEventStore
) -> None:
    context, client = serve_queries(service, store, query_engine, read_wait=0.05)
    handler = app.make_handler(store)
    view = query_model(context, JSON_CODEC)

    app.create_restaurant(handler, CreateRestaurant("sushi", "Sushi Ichiban"))
    app.create_restaurant(handler, CreateRestaurant("curry", "Curry House"))
    app.add_items(handler, "sushi", AddItems((NewItem("i1", "Tuna", 300),)), expected_version=1)
    app.add_items(handler, "sushi", AddItems((NewItem("i2", "Eel", 500),)), expected_version=2)
    app.remove_items(handler, "sushi", RemoveItems(("i1",)), expected_version=3)
    early = client.get("/restaurants/sushi/items?min_version=4")
    view.apply(store.read_all(0, limit=1000))

    assert early.status_code == 503
    listed = client.get("/restaurants").json()["items"]
    assert [(r["restaurant_id"], r["version"]) for r in listed] == [("curry", 1), ("sushi", 4)]
    menu = client.get("/restaurants/sushi/items?min_version=4").json()
    assert (menu["version"], menu["items"]) == (4, [{"item_id": "i2", "name": "Eel", "price": 500}])
    missing = client.get("/restaurants/nope/items")
    assert (missing.status_code, missing.headers["content-type"]) == (
        404,
        "application/problem+json",
    )
