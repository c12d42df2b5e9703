"""The catalog query API over HTTP, on the embedded SQLite query model and on MariaDB."""

from __future__ import annotations

from sqlalchemy import Engine

from catalog import app
from catalog.app import JSON_CODEC
from catalog.projection import query_model
from catalog.service import service
from eventfold import SqliteEventStore
from tests.examples.query_api import serve_queries


def test_registered_items_are_listed_from_the_query_table(
    query_engine: Engine | None, store: SqliteEventStore
) -> None:
    context, client = serve_queries(service, store, query_engine, read_wait=0.05)
    handler = app.make_handler(store)
    view = query_model(context, JSON_CODEC)

    app.register(handler, "b", "Bag", 12000)
    app.register(handler, "a", "Apron", 3000)
    early = client.get("/catalog/items/a?min_version=1")
    view.apply(store.read_all(0, limit=1000))

    assert early.status_code == 503
    items = client.get("/catalog/items").json()["items"]
    assert [(i["item_id"], i["name"], i["version"]) for i in items] == [
        ("a", "Apron", 1),
        ("b", "Bag", 1),
    ]
    assert client.get("/catalog/items/a?min_version=1").json()["price"] == 3000
    assert client.get("/catalog/items?limit=1&offset=1").json()["items"][0]["item_id"] == "b"
    assert client.get("/catalog/items/zzz").status_code == 404
