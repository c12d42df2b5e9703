"""The catalog (seed 002): items registered through value objects.

A command is built from raw input by :func:`register_item`, which builds every value
object and reports EVERY problem at once (the seed's ``Result.combineWithAllErrors``),
never only the first. Deciding is then only about the catalog's state. Pure: stdlib +
eventfold only. Streams: ``catalogitem-<item id>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from eventfold import Decider, EventTypes, RuleViolated, Validation, invalid

NAME_MAX = 50
PRICE_MAX = 10_000_000
UNPRINTABLE = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
"""What a name may not contain, as a regex class body: control characters, and the
invisible and direction-changing ones (zero-width, bidi overrides, BOM). Listed, not
Unicode categories: the HTTP schema states the same set, and it never moves with Python's
Unicode version."""
NAME_PATTERN = rf"^[^{UNPRINTABLE}]*[^{UNPRINTABLE}\s][^{UNPRINTABLE}]*$"
"""A name: printable, and not blank."""

# -- value objects -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemName:
    """1 to 50 printable characters (none of :data:`UNPRINTABLE`), trimmed. A distinct
    type: an id is not a name."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise invalid("must be text", code="type")
        if not self.value.strip():
            raise invalid("must not be blank", code="blank")
        if len(self.value.strip()) > NAME_MAX:
            raise invalid(f"must be at most {NAME_MAX} characters", code="too_long")
        if re.search(f"[{UNPRINTABLE}]", self.value):
            raise invalid("must not contain control characters", code="control_characters")
        object.__setattr__(self, "value", self.value.strip())


@dataclass(frozen=True, slots=True)
class ItemPrice:
    """A whole number of yen from 1 to 10,000,000."""

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise ValueError("must be a whole number of yen")
        if self.value < 1:
            raise invalid("must be at least 1 yen", code="too_small")
        if self.value > PRICE_MAX:
            raise invalid(f"must be at most {PRICE_MAX} yen", code="too_large")


# -- commands, events, state -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterItem:
    item_id: str
    name: ItemName
    price: ItemPrice


def register_item(item_id: str, name: object, price: object) -> RegisterItem:
    """The command from raw input; InvalidCommand lists every invalid field."""
    check = Validation()
    valid_name = check.field("name", ItemName, name)
    valid_price = check.field("price", ItemPrice, price)
    check.check(bool(item_id), "item_id", "must not be empty")
    check.raise_if_invalid()
    return RegisterItem(item_id, valid_name, valid_price)


@dataclass(frozen=True, slots=True)
class ItemRegistered:
    item_id: str
    name: str
    price: int


CatalogEvent = ItemRegistered


def event_types() -> EventTypes:
    """A registry naming every event of the service (the name is the class name)."""
    types = EventTypes()
    types.register(ItemRegistered)
    return types


EVENT_TYPES = event_types()


@dataclass(frozen=True, slots=True)
class CatalogItem:
    registered: bool = False
    name: str = ""
    price: int = 0


def evolve(state: CatalogItem, event: CatalogEvent) -> CatalogItem:
    return CatalogItem(True, event.name, event.price)


def decide(command: RegisterItem, state: CatalogItem) -> Sequence[CatalogEvent]:
    if state.registered:
        raise RuleViolated(f"item {command.item_id} is already registered", code="already_exists")
    return [ItemRegistered(command.item_id, command.name.value, command.price.value)]


catalog_item: Decider[RegisterItem, CatalogItem, CatalogEvent] = Decider(
    category="catalogitem",
    initial_state=CatalogItem(),
    evolve=evolve,
    decide=decide,
)
