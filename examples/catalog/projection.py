"""The catalog's query model (seed 002): one row per registered item, with the item stream's
version, kept by the ``catalog_view`` projection. The tables are made by the service's Alembic
revisions (``migrations/versions/``), applied by the entry points at startup; a rebuild
(``eventfold rebuild catalog_view``) refills them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from catalog.domain import ItemRegistered
from eventfold import EventCodec, RecordedEvent
from eventfold.router import EventFilter, Subscription
from eventfold.sql import ProjectionHandler, Rows, SqlProjection, versions_table
from eventfold.web import ServiceContext, query_engine

NAME = "catalog_view"

metadata = MetaData()
catalog_items = Table(
    "catalog_items",
    metadata,
    Column("item_id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("price", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
)
versions_table(NAME, metadata)


def on_registered(rows: Rows, event: ItemRegistered, recorded: RecordedEvent) -> None:
    row = {"item_id": event.item_id, "name": event.name, "price": event.price}
    rows.upsert("catalog_items", {**row, "version": recorded.version})


HANDLERS: dict[type, ProjectionHandler] = {ItemRegistered: on_registered}


def query_model(context: ServiceContext, codec: EventCodec) -> SqlProjection:
    """The projection on the context's query-model engine (tables: the migrations')."""
    return SqlProjection(NAME, query_engine(context), codec, [catalog_items], HANDLERS)


def subscription(view: SqlProjection) -> Subscription:
    return Subscription(NAME, view, EventFilter(categories=frozenset({"catalogitem"})))
