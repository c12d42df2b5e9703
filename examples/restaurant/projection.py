"""The restaurant service's query model (seed 000): restaurants and the items on their menus,
as plain SQL tables, kept up to date by the ``restaurant_view`` projection. Each row carries
the restaurant stream's version it reflects. The tables are made by the service's Alembic
revisions (``migrations/versions/``), applied by the entry points at startup; a rebuild
(``eventfold rebuild restaurant_view``) refills them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table

from eventfold import EventCodec, RecordedEvent, entity_id_of
from eventfold.router import EventFilter, Subscription
from eventfold.sql import ProjectionHandler, Rows, SqlProjection, versions_table
from eventfold.web import ServiceContext, query_engine
from restaurant.domain import ItemAdded, ItemRemoved, RestaurantCreated

NAME = "restaurant_view"

metadata = MetaData()
restaurants = Table(
    "restaurants",
    metadata,
    Column("restaurant_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("version", BigInteger, nullable=False),
)
menu_items = Table(
    "restaurant_menu_items",
    metadata,
    Column("restaurant_id", String(64), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("price", Integer, nullable=False),
)
versions_table(NAME, metadata)


def _touch(rows: Rows, recorded: RecordedEvent) -> str:
    """The restaurant's id; its row now reflects this event's version."""
    restaurant_id = entity_id_of(recorded.stream_id)
    rows.update("restaurants", {"restaurant_id": restaurant_id}, {"version": recorded.version})
    return restaurant_id


def on_created(rows: Rows, event: RestaurantCreated, recorded: RecordedEvent) -> None:
    row = {"restaurant_id": event.restaurant_id, "name": event.name, "version": recorded.version}
    rows.upsert("restaurants", row)


def on_item_added(rows: Rows, event: ItemAdded, recorded: RecordedEvent) -> None:
    restaurant_id = _touch(rows, recorded)
    item = {"restaurant_id": restaurant_id, "item_id": event.item_id}
    rows.upsert("restaurant_menu_items", {**item, "name": event.name, "price": event.price})


def on_item_removed(rows: Rows, event: ItemRemoved, recorded: RecordedEvent) -> None:
    restaurant_id = _touch(rows, recorded)
    rows.delete("restaurant_menu_items", {"restaurant_id": restaurant_id, "item_id": event.item_id})


HANDLERS: dict[type, ProjectionHandler] = {
    RestaurantCreated: on_created,
    ItemAdded: on_item_added,
    ItemRemoved: on_item_removed,
}


def projection(engine: Engine, codec: EventCodec) -> SqlProjection:
    return SqlProjection(NAME, engine, codec, [restaurants, menu_items], HANDLERS)


def query_model(context: ServiceContext, codec: EventCodec) -> SqlProjection:
    """The projection on the context's query-model engine (tables: the migrations')."""
    return projection(query_engine(context), codec)


def subscription(view: SqlProjection) -> Subscription:
    return Subscription(NAME, view, EventFilter(categories=frozenset({"restaurant"})))
