"""The catalog's command API. The request model only checks JSON types; what a name or a
price may be is the value objects' rule, reported all at once as one 422 problem."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from catalog import app
from eventfold import CommandHandler
from eventfold.web import CommandOrigin, require_role


class NewItem(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(max_length=1000)
    price: int = Field(description="in yen")


class RegisteredItem(BaseModel):
    item_id: str
    version: int


WRITERS = ("inventory", "operator")
"""The policy of the catalog service: items are registered by the inventory role (the
merchandising feed) or an operator; every read is public (a catalog is for everyone)."""


def router(handler: CommandHandler) -> APIRouter:
    """The command routes of the catalog service on ``handler``."""
    routes = APIRouter()

    @routes.post(
        "/catalog/items", status_code=status.HTTP_201_CREATED, response_model=RegisteredItem
    )
    def register_item(body: NewItem, origin: CommandOrigin) -> RegisteredItem:
        """Register an item (the inventory role, or an operator)."""
        assert origin.actor is not None  # a command route always has a caller
        require_role(origin.actor, *WRITERS)
        registered = app.register(handler, uuid.uuid4().hex, body.name, body.price, origin)
        return RegisteredItem(item_id=registered.item_id, version=registered.version)

    return routes
