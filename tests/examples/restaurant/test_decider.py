"""Given / when / then for every rule of the restaurant decider."""

from __future__ import annotations

import pytest

from eventfold import InvalidCommand, RuleViolated
from eventfold.testing import spec
from restaurant.domain import (
    MENU_MAX,
    AddItems,
    CreateRestaurant,
    ItemAdded,
    ItemRemoved,
    MenuItem,
    NewItem,
    RemoveItems,
    RestaurantCreated,
    restaurant,
)

CREATED = RestaurantCreated("r1", "Sushi Dai")
RAMEN = ItemAdded("i1", "Ramen", 900)


def test_a_restaurant_is_created_with_a_trimmed_name() -> None:
    state = spec(restaurant).given().when(CreateRestaurant("r1", " Sushi Dai ")).then(CREATED)
    assert (state.exists, state.name, state.items) == (True, "Sushi Dai", ())


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "Sushi\x00Dai", "\x07", "a\u202eb"])
def test_a_restaurant_needs_a_sensible_name(name: str) -> None:
    spec(restaurant).given().when(CreateRestaurant("r1", name)).raises(InvalidCommand, "name")


def test_a_restaurant_is_created_once() -> None:
    spec(restaurant).given(CREATED).when(CreateRestaurant("r1", "Again")).raises(
        RuleViolated, "already exists"
    )


def add(*items: tuple[str, str, int]) -> AddItems:
    return AddItems(tuple(NewItem(*item) for item in items))


def issues(error: BaseException) -> list[tuple[str, str]]:
    assert isinstance(error, InvalidCommand)
    return [(i.path, i.code) for i in error.issues]


def test_a_batch_of_items_is_added_in_one_decision() -> None:
    gyoza = ItemAdded("i2", "Gyoza", 500)
    state = (
        spec(restaurant)
        .given(CREATED)
        .when(add(("i1", "Ramen ", 900), ("i2", "Gyoza", 500)))
        .then(RAMEN, gyoza)
    )
    assert state.items == (MenuItem("i1", "Ramen", 900), MenuItem("i2", "Gyoza", 500))


def test_every_issue_of_every_item_is_reported_at_once() -> None:
    batch = add(("j1", " ", 0), ("j2", "Ramen", 2_000_000), ("j3", "Udon", 700), ("j4", "Udon", 1))
    error = spec(restaurant).given(CREATED, RAMEN).when(batch).raises(InvalidCommand)
    assert issues(error) == [
        ("items.0.name", "invalid"),
        ("items.0.price", "invalid"),
        ("items.1.price", "invalid"),
        ("items.1.name", "duplicate"),  # on the menu already
        ("items.3.name", "duplicate"),  # twice in the batch
    ]


@pytest.mark.parametrize("price", [0, -5, 1_000_001])
def test_a_price_is_from_1_to_a_million_yen(price: int) -> None:
    spec(restaurant).given(CREATED).when(add(("i1", "Ramen", price))).raises(
        InvalidCommand, "price"
    )


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "Ra\x00men", "a\u202eb"])
def test_an_item_needs_a_sensible_name(name: str) -> None:
    spec(restaurant).given(CREATED).when(add(("i1", name, 900))).raises(InvalidCommand, "name")


def test_items_need_a_restaurant() -> None:
    spec(restaurant).given().when(add(("i1", "Ramen", 900))).raises(RuleViolated, "does not exist")
    spec(restaurant).given().when(RemoveItems(("i1",))).raises(RuleViolated, "does not exist")


def test_an_item_id_is_used_once() -> None:
    error = (
        spec(restaurant)
        .given(CREATED, RAMEN)
        .when(add(("i1", "Gyoza", 500)))
        .raises(InvalidCommand)
    )
    assert issues(error) == [("items.0.item_id", "duplicate")]


def test_an_empty_batch_is_refused() -> None:
    spec(restaurant).given(CREATED).when(AddItems(())).raises(InvalidCommand, "at least one")
    spec(restaurant).given(CREATED).when(RemoveItems(())).raises(InvalidCommand, "at least one")


def test_a_menu_is_bounded() -> None:
    full = [ItemAdded(f"i{n}", f"dish {n}", 100) for n in range(MENU_MAX - 1)]
    error = (
        spec(restaurant)
        .given(CREATED, *full)
        .when(add(("x", "one more", 100), ("y", "and another", 100)))
        .raises(InvalidCommand)
    )
    assert issues(error) == [("items", "menu_full")]


def test_a_batch_of_items_is_removed_in_one_decision() -> None:
    gyoza = ItemAdded("i2", "Gyoza", 500)
    state = (
        spec(restaurant)
        .given(CREATED, RAMEN, gyoza)
        .when(RemoveItems(("i2", "i1")))
        .then(ItemRemoved("i2"), ItemRemoved("i1"))
    )
    assert state.items == ()


def test_every_id_not_on_the_menu_is_reported_at_once() -> None:
    error = (
        spec(restaurant)
        .given(CREATED, RAMEN, ItemRemoved("i1"))
        .when(RemoveItems(("i1", "i9", "i9")))
        .raises(InvalidCommand)
    )
    assert issues(error) == [
        ("item_ids.0", "no_such_item"),
        ("item_ids.1", "no_such_item"),
        ("item_ids.2", "duplicate"),
    ]
