"""The catalog's query API, reading ONLY its query table (:mod:`catalog.projection`):
``GET /catalog/items`` (by name, ``limit`` + ``offset``) and ``GET /catalog/items/{id}``
(``?min_version=v``: read-your-writes, a bounded wait that holds no thread, 503
problem+json on timeout, 404 at once when the item's stream never reached ``v``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from catalog.app import item_stream
from catalog.projection import catalog_items, query_model
from eventfold import EventCodec
from eventfold.sql import one_statement_reads
from eventfold.web import PUBLIC, ServiceContext, query_runner, read_your_writes

MAX_OFFSET = 100_000
"""Deeper pages are a scan on the event loop (SQLite reads run inline): page by name instead."""

ItemId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class CatalogItem(BaseModel):
    item_id: str
    name: str
    price: int
    version: int


class CatalogPage(BaseModel):
    items: list[CatalogItem]


def query_routes(context: ServiceContext, codec: EventCodec) -> APIRouter:
    view = query_model(context, codec)
    # Each read below is one statement: no transaction around it on SQLite.
    engine, waiting = one_statement_reads(view.engine), read_your_writes(context, view)
    run = query_runner(view.engine)
    t = catalog_items
    routes = APIRouter(dependencies=[PUBLIC])  # every read is public (see the policy)

    @routes.get("/catalog/items", response_model=CatalogPage)
    async def list_items(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> CatalogPage:
        """Registered items by name."""
        return await run(items_page, limit, offset)

    def items_page(limit: int, offset: int) -> CatalogPage:
        query = select(t).order_by(t.c.name, t.c.item_id).limit(limit).offset(offset)
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return CatalogPage(items=[CatalogItem(**r) for r in rows])

    @routes.get("/catalog/items/{item_id}", response_model=CatalogItem)
    async def get_item(
        item_id: ItemId, min_version: Annotated[int | None, Query(ge=1)] = None
    ) -> CatalogItem:
        """One item."""
        await waiting.wait(item_stream(item_id), min_version)
        found = await run(one_item, item_id)
        if found is None:
            raise HTTPException(404, detail=f"catalog item {item_id} is not known")
        return found

    def one_item(item_id: str) -> CatalogItem | None:
        with engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.item_id == item_id)).mappings().first()
        return None if row is None else CatalogItem(**row)

    return routes
