"""The restaurant service's command API, as seed 000 draws it. Menu edits come in batches
and send the restaurant's version the client read, ``aggregate_version``; a stale one is
409. ``POST /restaurants/{id}/items`` ``{aggregate_version, items: [{name, price}, …]}`` and
``DELETE /restaurants/{id}/items`` ``{aggregate_version, item_ids: […]}`` are each one
command and one append: every item is checked and every issue comes back in one 422."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from eventfold import CommandHandler, Origin, new_id
from eventfold.web import CommandOrigin, JsonInt, require_role
from restaurant import app
from restaurant.domain import (
    MENU_MAX,
    NAME_MAX,
    NAME_PATTERN,
    PRICE_MAX,
    AddItems,
    CreateRestaurant,
    NewItem,
    RemoveItems,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
PathId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
VERSION_MAX = 10**15
"""Far past any stream's version; exact as a JSON float (2**62 is not: a generator sent
4611686018427388000 for the bound)."""


class Strict(BaseModel):
    """Request bodies: exact JSON types, no unknown fields. The content rules (printable,
    non-blank names, the price range) are the domain's, stated here too so that the schema
    says what is accepted; every issue comes back as one 422."""

    model_config = ConfigDict(strict=True, extra="forbid")


Name = Annotated[str, Field(max_length=NAME_MAX, pattern=NAME_PATTERN)]


class NewRestaurant(Strict):
    name: Name


ItemId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]


class Item(Strict):
    name: Name
    price: JsonInt = Field(ge=1, le=PRICE_MAX, description="in yen")


class ItemsToAdd(Strict):
    aggregate_version: JsonInt = Field(
        ge=0, le=VERSION_MAX, description="the restaurant's version the client read"
    )
    items: list[Item] = Field(min_length=1, max_length=MENU_MAX)


class ItemsToRemove(Strict):
    aggregate_version: JsonInt = Field(
        ge=0, le=VERSION_MAX, description="the restaurant's version the client read"
    )
    item_ids: list[ItemId] = Field(min_length=1, max_length=MENU_MAX)


class CreatedRestaurant(BaseModel):
    restaurant_id: str
    version: int


class AddedItems(BaseModel):
    item_ids: list[str]
    version: int


class Version(BaseModel):
    version: int


WRITERS = ("staff", "operator")
"""The policy of the restaurant service: its menus are changed by restaurant staff (role
``staff``) or an operator; every read is public (a menu is for everyone to see)."""


def may_write(origin: Origin) -> None:
    assert origin.actor is not None  # a command route always has a caller
    require_role(origin.actor, *WRITERS)


def router(handler: CommandHandler) -> APIRouter:
    """The command routes of the restaurant service on ``handler``."""
    routes = APIRouter()

    @routes.post(
        "/restaurants", status_code=status.HTTP_201_CREATED, response_model=CreatedRestaurant
    )
    def create_restaurant(body: NewRestaurant, origin: CommandOrigin) -> CreatedRestaurant:
        """Open a restaurant (restaurant staff)."""
        may_write(origin)
        command = CreateRestaurant(new_id(), body.name)
        created = app.create_restaurant(handler, command, origin)
        return CreatedRestaurant(restaurant_id=created.restaurant_id, version=created.version)

    @routes.post(
        "/restaurants/{restaurant_id}/items",
        status_code=status.HTTP_201_CREATED,
        response_model=AddedItems,
    )
    def add_items(restaurant_id: PathId, body: ItemsToAdd, origin: CommandOrigin) -> AddedItems:
        """Add a batch of items, all or none (restaurant staff; 404: no such restaurant;
        409: the menu changed since ``aggregate_version``, reload it; 422: every issue)."""
        may_write(origin)
        items = tuple(NewItem(new_id(), i.name, i.price) for i in body.items)
        added = app.add_items(
            handler,
            restaurant_id,
            AddItems(items),
            origin,
            expected_version=body.aggregate_version,
        )
        return AddedItems(item_ids=list(added.item_ids), version=added.version)

    @routes.delete("/restaurants/{restaurant_id}/items", response_model=Version)
    def remove_items(restaurant_id: PathId, body: ItemsToRemove, origin: CommandOrigin) -> Version:
        """Take a batch of items off the menu, all or none (restaurant staff; 409: stale
        ``aggregate_version``; 422: an id not on the menu, or listed twice — every one)."""
        may_write(origin)
        version = app.remove_items(
            handler,
            restaurant_id,
            RemoveItems(tuple(body.item_ids)),
            origin,
            expected_version=body.aggregate_version,
        )
        return Version(version=version)

    return routes
