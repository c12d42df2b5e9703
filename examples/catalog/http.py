"""The catalog's command API. The request model states what a name or a price may be (the
value objects' rules, checked again there), so the OpenAPI document says what is accepted;
every issue comes back at once as one 422 problem."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from catalog import app
from catalog.domain import NAME_MAX, NAME_PATTERN, PRICE_MAX
from eventfold import CommandHandler, new_id
from eventfold.web import CommandOrigin, JsonInt, require_role


class NewItem(BaseModel):
    """The schema states the value objects' rules, so that it says what is accepted; the
    value objects check them again (a command may come from elsewhere)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(max_length=NAME_MAX, pattern=NAME_PATTERN)
    price: JsonInt = Field(ge=1, le=PRICE_MAX, description="in yen")


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
        registered = app.register(handler, new_id(), body.name, body.price, origin)
        return RegisteredItem(item_id=registered.item_id, version=registered.version)

    return routes
