"""Menu edits with optimistic locking on a real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventfold import (
    CommandHandler,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    Origin,
    SqliteEventStore,
    StreamNotFound,
)
from restaurant.app import (
    add_items,
    create_restaurant,
    make_handler,
    remove_items,
    restaurant_stream,
)
from restaurant.domain import AddItems, CreateRestaurant, NewItem, RemoveItems

RAMEN = AddItems((NewItem("i1", "Ramen", 900),))
GYOZA = AddItems((NewItem("i2", "Gyoza", 500),))


def opened(handler: CommandHandler) -> str:
    return create_restaurant(handler, CreateRestaurant("r1", "Sushi Dai")).restaurant_id


def test_a_menu_is_edited_version_by_version(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rid = opened(handler)
    batch = AddItems((NewItem("i1", "Ramen", 900), NewItem("i2", "Gyoza", 500)))
    added = add_items(handler, rid, batch, expected_version=1)
    assert (added.item_ids, added.version) == (("i1", "i2"), 3)
    assert remove_items(handler, rid, RemoveItems(("i1", "i2")), expected_version=3) == 5
    types = [e.type for e in store.read(restaurant_stream(rid))]
    assert types == ["RestaurantCreated", "ItemAdded", "ItemAdded", "ItemRemoved", "ItemRemoved"]


class CountingStore(SqliteEventStore):
    """A SQLite store counting its appends."""

    appends = 0

    def append(self, *args: Any, **kwargs: Any) -> Any:
        self.appends += 1
        return super().append(*args, **kwargs)


def test_a_batch_is_one_command_and_one_append(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "events.db")
    handler = make_handler(store)
    rid = opened(handler)
    batch = AddItems(tuple(NewItem(f"i{n}", f"dish {n}", 100) for n in range(5)))
    add_items(handler, rid, batch, expected_version=1)
    remove_items(handler, rid, RemoveItems(("i0", "i3")), expected_version=6)
    assert store.appends == 3  # the restaurant, then one per batch
    assert [e.version for e in store.read(restaurant_stream(rid))] == list(range(1, 9))


def test_a_stale_version_is_a_conflict_and_is_not_retried(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rid = opened(handler)
    add_items(handler, rid, RAMEN, expected_version=1)
    with pytest.raises(ConcurrencyConflict) as conflict:
        add_items(handler, rid, GYOZA, expected_version=1)
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    with pytest.raises(ConcurrencyConflict):
        remove_items(handler, rid, RemoveItems(("i1",)), expected_version=1)
    assert len(store.read(restaurant_stream(rid))) == 2


def test_an_unknown_restaurant_is_not_found(handler: CommandHandler) -> None:
    with pytest.raises(StreamNotFound, match="restaurant-nope"):
        add_items(handler, "nope", RAMEN, expected_version=0)


def test_a_retried_add_returns_the_first_item_ids(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rid = opened(handler)
    key = Origin(command_id="k")
    batch = AddItems((NewItem("i1", "Ramen", 900), NewItem("i2", "Gyoza", 500)))
    retried = AddItems((NewItem("i8", "Ramen", 900), NewItem("i9", "Gyoza", 500)))
    first = add_items(handler, rid, batch, key, expected_version=1)
    again = add_items(handler, rid, retried, key, expected_version=1)
    assert again == first
    assert first.item_ids == ("i1", "i2")
    assert len(store.read(restaurant_stream(rid))) == 3


def test_a_retried_create_returns_the_first_restaurant(handler: CommandHandler) -> None:
    sushi = Origin(command_id="k", request_digest="Sushi Dai")
    first = create_restaurant(handler, CreateRestaurant("a", "Sushi Dai"), sushi)
    again = create_restaurant(handler, CreateRestaurant("b", "Sushi Dai"), sushi)
    assert again == first
    other = Origin(command_id="k", request_digest="Other")
    with pytest.raises(IdempotencyKeyReused):
        create_restaurant(handler, CreateRestaurant("c", "Other"), other)
