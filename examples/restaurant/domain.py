"""The restaurant aggregate (seed 000): a restaurant and the items on its menu.

Pure: stdlib + eventfold only. Streams: ``restaurant-<restaurant id>``. Clients edit a menu
they have seen, so item commands are sent with the version the client read; a stale
version is a conflict, not something to retry silently (see :mod:`restaurant.app`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from eventfold import Decider, EventTypes, RuleViolated, Validation

NAME_MAX = 100
PRICE_MAX = 1_000_000
MENU_MAX = 200
UNPRINTABLE = r"\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
"""What a name may not contain, as a regex class body: control characters, and the
invisible and direction-changing ones (zero-width, bidi overrides, BOM). Listed, not
Unicode categories: the HTTP schema states the same set, and it never moves with Python's
Unicode version."""
NAME_PATTERN = rf"^[^{UNPRINTABLE}]*[^{UNPRINTABLE}\s][^{UNPRINTABLE}]*$"
"""A name: printable, and not blank."""

# -- commands ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateRestaurant:
    restaurant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AddItem:
    item_id: str
    name: str
    price: int
    """In the smallest currency unit (yen)."""


@dataclass(frozen=True, slots=True)
class RemoveItem:
    item_id: str


RestaurantCommand = CreateRestaurant | AddItem | RemoveItem

# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestaurantCreated:
    restaurant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ItemAdded:
    item_id: str
    name: str
    price: int


@dataclass(frozen=True, slots=True)
class ItemRemoved:
    item_id: str


RestaurantEvent = RestaurantCreated | ItemAdded | ItemRemoved


def event_types() -> EventTypes:
    """A registry naming every event of the service (the name is the class name)."""
    types = EventTypes()
    for cls in (RestaurantCreated, ItemAdded, ItemRemoved):
        types.register(cls)
    return types


EVENT_TYPES = event_types()

# -- state -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenuItem:
    item_id: str
    name: str
    price: int


@dataclass(frozen=True, slots=True)
class Restaurant:
    exists: bool = False
    restaurant_id: str = ""
    name: str = ""
    items: tuple[MenuItem, ...] = ()

    def item(self, item_id: str) -> MenuItem | None:
        return next((i for i in self.items if i.item_id == item_id), None)


def evolve(state: Restaurant, event: RestaurantEvent) -> Restaurant:
    match event:
        case RestaurantCreated():
            return Restaurant(True, event.restaurant_id, event.name)
        case ItemAdded():
            added = MenuItem(event.item_id, event.name, event.price)
            return replace(state, items=(*state.items, added))
        case ItemRemoved():
            kept = tuple(i for i in state.items if i.item_id != event.item_id)
            return replace(state, items=kept)


# -- decide ------------------------------------------------------------------------------------


def _check_name(check: Validation, name: str) -> None:
    if check.check(bool(name.strip()), "name", "must not be blank"):
        check.check(len(name) <= NAME_MAX, "name", f"must be at most {NAME_MAX} characters")
        printable = re.search(f"[{UNPRINTABLE}]", name) is None  # a NUL was accepted
        check.check(printable, "name", "must not contain control characters", "control_characters")


def _create(command: CreateRestaurant, state: Restaurant) -> list[RestaurantEvent]:
    if state.exists:
        raise RuleViolated(
            f"restaurant {command.restaurant_id} already exists", code="already_exists"
        )
    check = Validation()
    _check_name(check, command.name)
    check.raise_if_invalid()
    return [RestaurantCreated(command.restaurant_id, command.name.strip())]


def _add(command: AddItem, state: Restaurant) -> list[RestaurantEvent]:
    check = Validation()
    _check_name(check, command.name)
    check.check(command.price >= 1, "price", "must be at least 1")
    check.check(command.price <= PRICE_MAX, "price", f"must be at most {PRICE_MAX}")
    check.raise_if_invalid()
    name = command.name.strip()
    if state.item(command.item_id) is not None:
        raise RuleViolated(f"item {command.item_id} is already on the menu", code="duplicate")
    if any(i.name == name for i in state.items):
        raise RuleViolated(f"the menu already has an item named {name!r}", code="duplicate")
    if len(state.items) >= MENU_MAX:
        raise RuleViolated(f"a menu has at most {MENU_MAX} items", code="menu_full")
    return [ItemAdded(command.item_id, name, command.price)]


def decide(command: RestaurantCommand, state: Restaurant) -> Sequence[RestaurantEvent]:
    match command:
        case CreateRestaurant():
            return _create(command, state)
        case AddItem() | RemoveItem() if not state.exists:
            raise RuleViolated("the restaurant does not exist", code="not_found")
        case AddItem():
            return _add(command, state)
        case RemoveItem() if state.item(command.item_id) is None:
            raise RuleViolated(f"item {command.item_id} is not on the menu", code="no_such_item")
        case RemoveItem():
            return [ItemRemoved(command.item_id)]


restaurant: Decider[RestaurantCommand, Restaurant, RestaurantEvent] = Decider(
    category="restaurant",
    initial_state=Restaurant(),
    evolve=evolve,
    decide=decide,
)
