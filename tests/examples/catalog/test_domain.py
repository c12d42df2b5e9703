"""Value objects report every issue at once; the decider registers an item once."""

from __future__ import annotations

import pytest

from catalog.domain import (
    ItemName,
    ItemPrice,
    ItemRegistered,
    RegisterItem,
    catalog_item,
    register_item,
)
from eventfold import InvalidCommand, Issue, RuleViolated
from eventfold.testing import spec


def test_a_valid_command_is_built_from_raw_input() -> None:
    command = register_item("i1", "  Tote bag ", 3300)
    assert command == RegisterItem("i1", ItemName("Tote bag"), ItemPrice(3300))


def test_every_invalid_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidCommand) as error:
        register_item("", " ", 0)
    assert error.value.issues == (
        Issue("name", "must not be blank", "blank"),
        Issue("price", "must be at least 1 yen", "too_small"),
        Issue("item_id", "must not be empty"),
    )


@pytest.mark.parametrize(
    ("name", "code"),
    [("", "blank"), ("x" * 51, "too_long"), ("tab\there", "control_characters"), (7, "type")],
)
def test_an_item_name_is_1_to_50_printable_characters(name: object, code: str) -> None:
    with pytest.raises(InvalidCommand) as error:
        register_item("i1", name, 100)
    assert [(i.path, i.code) for i in error.value.issues] == [("name", code)]


@pytest.mark.parametrize(
    ("price", "code"),
    [
        (0, "too_small"),
        (-1, "too_small"),
        (10_000_001, "too_large"),
        (True, "invalid"),
        (1.5, "invalid"),
        ("100", "invalid"),
    ],
)
def test_a_price_is_a_whole_number_of_yen_in_range(price: object, code: str) -> None:
    with pytest.raises(InvalidCommand) as error:
        register_item("i1", "Tote bag", price)
    assert [(i.path, i.code) for i in error.value.issues] == [("price", code)]


def test_an_item_is_registered() -> None:
    state = (
        spec(catalog_item)
        .given()
        .when(register_item("i1", "Tote bag", 3300))
        .then(ItemRegistered("i1", "Tote bag", 3300))
    )
    assert state.registered


def test_an_item_is_registered_once() -> None:
    registered = ItemRegistered("i1", "Tote bag", 3300)
    spec(catalog_item).given(registered).when(register_item("i1", "Other", 1)).raises(
        RuleViolated, "already registered"
    )
