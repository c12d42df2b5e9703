"""Given / when / then for every rule of the restaurant decider."""

from __future__ import annotations

import pytest

from eventfold import InvalidCommand, RuleViolated
from eventfold.testing import spec
from restaurant.domain import (
    MENU_MAX,
    AddItem,
    CreateRestaurant,
    ItemAdded,
    ItemRemoved,
    MenuItem,
    RemoveItem,
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


def test_an_item_is_added() -> None:
    state = spec(restaurant).given(CREATED).when(AddItem("i1", "Ramen ", 900)).then(RAMEN)
    assert state.items == (MenuItem("i1", "Ramen", 900),)


def test_every_bad_item_field_is_reported_at_once() -> None:
    error = spec(restaurant).given(CREATED).when(AddItem("i1", " ", 0)).raises(InvalidCommand)
    assert isinstance(error, InvalidCommand)
    assert [i.path for i in error.issues] == ["name", "price"]


@pytest.mark.parametrize("price", [0, -5, 1_000_001])
def test_a_price_is_from_1_to_a_million_yen(price: int) -> None:
    spec(restaurant).given(CREATED).when(AddItem("i1", "Ramen", price)).raises(
        InvalidCommand, "price"
    )


def test_items_need_a_restaurant() -> None:
    spec(restaurant).given().when(AddItem("i1", "Ramen", 900)).raises(
        RuleViolated, "does not exist"
    )
    spec(restaurant).given().when(RemoveItem("i1")).raises(RuleViolated, "does not exist")


def test_an_item_name_is_on_the_menu_once() -> None:
    spec(restaurant).given(CREATED, RAMEN).when(AddItem("i2", "Ramen", 800)).raises(
        RuleViolated, "already has an item named 'Ramen'"
    )


def test_an_item_id_is_used_once() -> None:
    spec(restaurant).given(CREATED, RAMEN).when(AddItem("i1", "Gyoza", 500)).raises(
        RuleViolated, "already on the menu"
    )


def test_a_menu_is_bounded() -> None:
    full = [ItemAdded(f"i{n}", f"dish {n}", 100) for n in range(MENU_MAX)]
    spec(restaurant).given(CREATED, *full).when(AddItem("x", "one more", 100)).raises(
        RuleViolated, "at most"
    )


def test_an_item_is_removed() -> None:
    state = spec(restaurant).given(CREATED, RAMEN).when(RemoveItem("i1")).then(ItemRemoved("i1"))
    assert state.items == ()


def test_only_an_item_on_the_menu_is_removed() -> None:
    spec(restaurant).given(CREATED, RAMEN, ItemRemoved("i1")).when(RemoveItem("i1")).raises(
        RuleViolated, "not on the menu"
    )
