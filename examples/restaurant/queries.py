"""The restaurant service's query API, reading ONLY its query tables
(:mod:`restaurant.projection`): ``GET /restaurants`` (by name, ``limit`` + ``offset``) and
``GET /restaurants/{id}/items`` (``?min_version=v`` waits, bounded, until the query model
shows version v of the restaurant, holding no thread: read-your-writes; 503 problem+json on
timeout, 404 at once when the restaurant's stream never reached v)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import select

from eventfold import EventCodec
from eventfold.web import PUBLIC, ServiceContext, query_runner, read_your_writes
from restaurant.app import restaurant_stream
from restaurant.http import PathId
from restaurant.projection import menu_items, query_model, restaurants

MAX_OFFSET = 100_000
"""Deeper pages are a scan on the event loop (SQLite reads run inline): page by name instead."""


class RestaurantSummary(BaseModel):
    restaurant_id: str
    name: str
    version: int


class RestaurantList(BaseModel):
    items: list[RestaurantSummary]


class MenuItem(BaseModel):
    item_id: str
    name: str
    price: int


class Menu(BaseModel):
    restaurant_id: str
    name: str
    version: int
    items: list[MenuItem]


def query_routes(context: ServiceContext, codec: EventCodec) -> APIRouter:
    view = query_model(context, codec)
    engine, waiting, run = view.engine, read_your_writes(context, view), query_runner(view.engine)
    routes = APIRouter(dependencies=[PUBLIC])  # every read is public (see the policy)

    @routes.get("/restaurants", response_model=RestaurantList)
    async def list_restaurants(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> RestaurantList:
        """Restaurants by name."""
        return await run(restaurant_page, limit, offset)

    def restaurant_page(limit: int, offset: int) -> RestaurantList:
        t = restaurants
        query = select(t).order_by(t.c.name, t.c.restaurant_id).limit(limit).offset(offset)
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return RestaurantList(items=[RestaurantSummary(**r) for r in rows])

    @routes.get("/restaurants/{restaurant_id}/items", response_model=Menu)
    async def menu(
        restaurant_id: PathId, min_version: Annotated[int | None, Query(ge=1)] = None
    ) -> Menu:
        """A restaurant's menu, by item name, with the restaurant version it reflects."""
        await waiting.wait(restaurant_stream(restaurant_id), min_version)
        return await run(read_menu, restaurant_id)

    def read_menu(restaurant_id: str) -> Menu:
        with engine.connect() as conn:
            head = conn.execute(
                select(restaurants).where(restaurants.c.restaurant_id == restaurant_id)
            ).first()
            items = conn.execute(
                select(menu_items.c.item_id, menu_items.c.name, menu_items.c.price)
                .where(menu_items.c.restaurant_id == restaurant_id)
                .order_by(menu_items.c.name)
            ).mappings()
            found = [MenuItem(**i) for i in items]
        if head is None:
            raise HTTPException(404, detail=f"restaurant {restaurant_id} is not known")
        return Menu(restaurant_id=restaurant_id, name=head.name, version=head.version, items=found)

    return routes
