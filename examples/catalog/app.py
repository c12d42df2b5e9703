"""Application functions of the catalog service."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.domain import EVENT_TYPES, catalog_item, register_item
from eventfold import (
    CommandHandler,
    EventCodec,
    EventStore,
    JsonCodec,
    Origin,
    OutcomeCounter,
    entity_id_of,
)

JSON_CODEC = JsonCodec(EVENT_TYPES)


def make_handler(
    store: EventStore, codec: EventCodec = JSON_CODEC, *, outcomes: OutcomeCounter | None = None
) -> CommandHandler:
    return CommandHandler(store, codec, outcomes=outcomes)


def item_stream(item_id: str) -> str:
    return catalog_item.stream_id(item_id)


@dataclass(frozen=True, slots=True)
class Registered:
    item_id: str
    version: int


def register(
    handler: CommandHandler,
    item_id: str,
    name: object,
    price: object,
    origin: Origin = Origin(),
) -> Registered:
    """Validate (every issue at once) and register an item. A retry with the same command
    id returns the first item."""
    command = register_item(item_id, name, price)
    stream_id = item_stream(item_id)
    outcome = handler.execute(catalog_item, stream_id, command, origin)
    ((committed, version),) = outcome.commit.versions.items()
    return Registered(entity_id_of(committed), version)
