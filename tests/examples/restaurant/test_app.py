"""Menu edits with optimistic locking on a real SQLite store."""

from __future__ import annotations

import pytest

from eventfold import (
    CommandHandler,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    Origin,
    SqliteEventStore,
    StreamNotFound,
)
from restaurant.app import add_item, create_restaurant, remove_item, restaurant_stream
from restaurant.domain import AddItem, CreateRestaurant, RemoveItem


def opened(handler: CommandHandler) -> str:
    return create_restaurant(handler, CreateRestaurant("r1", "Sushi Dai")).restaurant_id


def test_a_menu_is_edited_version_by_version(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rid = opened(handler)
    added = add_item(handler, rid, AddItem("i1", "Ramen", 900), expected_version=1)
    assert (added.item_id, added.version) == ("i1", 2)
    assert remove_item(handler, rid, RemoveItem("i1"), expected_version=2) == 3
    types = [e.type for e in store.read(restaurant_stream(rid))]
    assert types == ["RestaurantCreated", "ItemAdded", "ItemRemoved"]


def test_a_stale_version_is_a_conflict_and_is_not_retried(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rid = opened(handler)
    add_item(handler, rid, AddItem("i1", "Ramen", 900), expected_version=1)
    with pytest.raises(ConcurrencyConflict) as conflict:
        add_item(handler, rid, AddItem("i2", "Gyoza", 500), expected_version=1)
    assert (conflict.value.expected, conflict.value.actual) == (1, 2)
    with pytest.raises(ConcurrencyConflict):
        remove_item(handler, rid, RemoveItem("i1"), expected_version=1)
    assert len(store.read(restaurant_stream(rid))) == 2


def test_an_unknown_restaurant_is_not_found(handler: CommandHandler) -> None:
    with pytest.raises(StreamNotFound, match="restaurant-nope"):
        add_item(handler, "nope", AddItem("i1", "Ramen", 900), expected_version=0)


def test_a_retried_add_returns_the_first_item_id(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rid = opened(handler)
    key = Origin(command_id="k")
    first = add_item(handler, rid, AddItem("i1", "Ramen", 900), key, expected_version=1)
    again = add_item(handler, rid, AddItem("i9", "Ramen", 900), key, expected_version=1)
    assert again == first
    assert len(store.read(restaurant_stream(rid))) == 2


def test_a_retried_create_returns_the_first_restaurant(handler: CommandHandler) -> None:
    sushi = Origin(command_id="k", request_digest="Sushi Dai")
    first = create_restaurant(handler, CreateRestaurant("a", "Sushi Dai"), sushi)
    again = create_restaurant(handler, CreateRestaurant("b", "Sushi Dai"), sushi)
    assert again == first
    other = Origin(command_id="k", request_digest="Other")
    with pytest.raises(IdempotencyKeyReused):
        create_restaurant(handler, CreateRestaurant("c", "Other"), other)
