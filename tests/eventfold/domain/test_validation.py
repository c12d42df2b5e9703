from __future__ import annotations

from dataclasses import dataclass

import pytest

from eventfold import InvalidCommand, Issue, Validation, invalid


@dataclass(frozen=True)
class Name:
    value: str

    def __post_init__(self) -> None:
        if not self.value.strip():
            raise invalid("must not be blank", code="blank")


@dataclass(frozen=True)
class Price:
    yen: int

    def __post_init__(self) -> None:
        if self.yen < 0:
            raise ValueError("must not be negative")


def register(name: str, price: int, tags: list[str]) -> tuple[Name, Price]:
    v = Validation()
    checked_name = v.field("name", Name, name)
    checked_price = v.field("price", Price, price)
    v.check(len(tags) <= 2, "tags", "at most 2 tags", "too_many")
    v.raise_if_invalid()
    return checked_name, checked_price


def test_every_issue_is_reported_at_once() -> None:
    with pytest.raises(InvalidCommand) as caught:
        register(" ", -1, ["a", "b", "c"])
    assert caught.value.issues == (
        Issue("name", "must not be blank", "blank"),
        Issue("price", "must not be negative", "invalid"),
        Issue("tags", "at most 2 tags", "too_many"),
    )
    assert "name: must not be blank" in str(caught.value)


def test_valid_input_builds_the_values() -> None:
    assert register("tea", 300, []) == (Name("tea"), Price(300))


def test_an_invalid_command_needs_an_issue() -> None:
    with pytest.raises(ValueError, match="at least one issue"):
        InvalidCommand([])
