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
    AddItems,
    CreateRestaurant,
    ItemAdded,
    RemoveItems,
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
class AddedItems:
    item_ids: tuple[str, ...]
    version: int


def create_restaurant(
    handler: CommandHandler, command: CreateRestaurant, origin: Origin = Origin()
) -> Created:
    """Open a new restaurant. A retry with the same command id returns the first one."""
    stream_id = restaurant_stream(command.restaurant_id)
    outcome = handler.execute(restaurant, stream_id, command, origin)
    ((committed, version),) = outcome.commit.versions.items()
    return Created(entity_id_of(committed), version)


def add_items(
    handler: CommandHandler,
    restaurant_id: str,
    command: AddItems,
    origin: Origin = Origin(),
    *,
    expected_version: int,
) -> AddedItems:
    """Add a batch of items to the menu the client saw at ``expected_version``: one
    command, one append (an ItemAdded per item), all or nothing."""
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
    return AddedItems(_added_item_ids(handler, outcome.commit, stream_id, command), version)


def _added_item_ids(
    handler: CommandHandler, commit: Commit, stream_id: str, command: AddItems
) -> tuple[str, ...]:
    if not commit.duplicate:
        return tuple(item.item_id for item in command.items)
    # A retry: the ids are the ones the first attempt committed, read back from its events
    # (the batch's events end at the committed version).
    last = commit.versions[stream_id]
    count = len(command.items)
    recorded = handler.store.read(stream_id, after_version=last - count, limit=count)
    events = [handler.codec.decode(r) for r in recorded]
    if not all(isinstance(e, ItemAdded) for e in events):  # pragma: no cover - fingerprint
        raise AssertionError(f"{stream_id} up to {last} is not this batch of ItemAdded")
    return tuple(e.item_id for e in events if isinstance(e, ItemAdded))


def remove_items(
    handler: CommandHandler,
    restaurant_id: str,
    command: RemoveItems,
    origin: Origin = Origin(),
    *,
    expected_version: int,
) -> int:
    """Take a batch of items off the menu the client saw at ``expected_version``: one
    command, one append (an ItemRemoved per item), all or nothing."""
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
