"""The restaurant service's command API. Menu edits send the version the client read:
``expected_version`` in the body (POST) or the query string (DELETE); a stale one is 409."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from eventfold import CommandHandler, Origin
from eventfold.web import CommandOrigin, JsonInt, require_role
from restaurant import app
from restaurant.domain import (
    NAME_MAX,
    NAME_PATTERN,
    PRICE_MAX,
    AddItem,
    CreateRestaurant,
    RemoveItem,
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


class NewItem(Strict):
    name: Name
    price: JsonInt = Field(ge=1, le=PRICE_MAX, description="in yen")
    expected_version: JsonInt = Field(
        ge=0, le=VERSION_MAX, description="the restaurant's version the client read before editing"
    )


class CreatedRestaurant(BaseModel):
    restaurant_id: str
    version: int


class AddedItem(BaseModel):
    item_id: str
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
        command = CreateRestaurant(uuid.uuid4().hex, body.name)
        created = app.create_restaurant(handler, command, origin)
        return CreatedRestaurant(restaurant_id=created.restaurant_id, version=created.version)

    @routes.post(
        "/restaurants/{restaurant_id}/items",
        status_code=status.HTTP_201_CREATED,
        response_model=AddedItem,
    )
    def add_item(restaurant_id: PathId, body: NewItem, origin: CommandOrigin) -> AddedItem:
        """Add an item (restaurant staff; 404: no such restaurant; 409: the menu changed
        since ``expected_version``, reload it)."""
        may_write(origin)
        command = AddItem(uuid.uuid4().hex, body.name, body.price)
        added = app.add_item(
            handler, restaurant_id, command, origin, expected_version=body.expected_version
        )
        return AddedItem(item_id=added.item_id, version=added.version)

    @routes.delete("/restaurants/{restaurant_id}/items/{item_id}", response_model=Version)
    def remove_item(
        restaurant_id: PathId,
        item_id: PathId,
        expected_version: Annotated[int, Query(ge=0, le=VERSION_MAX)],
        origin: CommandOrigin,
    ) -> Version:
        """Take an item off the menu (restaurant staff; 409: stale ``expected_version`` or
        no such item)."""
        may_write(origin)
        version = app.remove_item(
            handler, restaurant_id, RemoveItem(item_id), origin, expected_version=expected_version
        )
        return Version(version=version)

    return routes
