"""Application functions of the restaurant service.

Menu edits carry the version the client read (``expected_version``): the handler pins it,
so a stale edit is a ConcurrencyConflict (409) and is NOT decided again on fresh state; the
client reloads the menu and decides for itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventfold import (
    CommandHandler,
    Commit,
    EventCodec,
    EventStore,
    JsonCodec,
    Origin,
    OutcomeCounter,
    entity_id_of,
)
from restaurant.domain import (
    EVENT_TYPES,
    AddItem,
    CreateRestaurant,
    ItemAdded,
    RemoveItem,
    restaurant,
)

JSON_CODEC = JsonCodec(EVENT_TYPES)


def make_handler(
    store: EventStore, codec: EventCodec = JSON_CODEC, *, outcomes: OutcomeCounter | None = None
) -> CommandHandler:
    return CommandHandler(store, codec, outcomes=outcomes)


def restaurant_stream(restaurant_id: str) -> str:
    return restaurant.stream_id(restaurant_id)


@dataclass(frozen=True, slots=True)
class Created:
    restaurant_id: str
    version: int


@dataclass(frozen=True, slots=True)
class AddedItem:
    item_id: str
    version: int


def create_restaurant(
    handler: CommandHandler, command: CreateRestaurant, origin: Origin = Origin()
) -> Created:
    """Open a new restaurant. A retry with the same command id returns the first one."""
    stream_id = restaurant_stream(command.restaurant_id)
    outcome = handler.execute(restaurant, stream_id, command, origin)
    ((committed, version),) = outcome.commit.versions.items()
    return Created(entity_id_of(committed), version)


def add_item(
    handler: CommandHandler,
    restaurant_id: str,
    command: AddItem,
    origin: Origin = Origin(),
    *,
    expected_version: int,
) -> AddedItem:
    """Add an item to the menu the client saw at ``expected_version``."""
    stream_id = restaurant_stream(restaurant_id)
    outcome = handler.execute(
        restaurant,
        stream_id,
        command,
        origin,
        expected_version=expected_version,
        must_exist=True,
    )
    version = outcome.commit.versions[stream_id]
    return AddedItem(_added_item_id(handler, outcome.commit, stream_id, command), version)


def _added_item_id(
    handler: CommandHandler, commit: Commit, stream_id: str, command: AddItem
) -> str:
    if not commit.duplicate:
        return command.item_id
    # A retry: the item id is the one the first attempt committed, read back from its event.
    version = commit.versions[stream_id]
    (recorded,) = handler.store.read(stream_id, after_version=version - 1, limit=1)
    event = handler.codec.decode(recorded)
    if not isinstance(event, ItemAdded):  # pragma: no cover - the key's fingerprint matched
        raise AssertionError(f"{recorded.key} is not an ItemAdded")
    return event.item_id


def remove_item(
    handler: CommandHandler,
    restaurant_id: str,
    command: RemoveItem,
    origin: Origin = Origin(),
    *,
    expected_version: int,
) -> int:
    """Take an item off the menu the client saw at ``expected_version``."""
    stream_id = restaurant_stream(restaurant_id)
    outcome = handler.execute(
        restaurant,
        stream_id,
        command,
        origin,
        expected_version=expected_version,
        must_exist=True,
    )
    return outcome.commit.versions[stream_id]
