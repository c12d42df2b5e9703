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
class NewItem:
    item_id: str
    name: str
    price: int
    """In the smallest currency unit (yen)."""


@dataclass(frozen=True, slots=True)
class AddItems:
    """Add a batch of items to the menu: all of them, in one append, or none."""

    items: tuple[NewItem, ...]


@dataclass(frozen=True, slots=True)
class RemoveItems:
    """Take a batch of items off the menu: all of them, in one append, or none."""

    item_ids: tuple[str, ...]


RestaurantCommand = CreateRestaurant | AddItems | RemoveItems

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


def _check_name(check: Validation, name: str, path: str = "name") -> None:
    if check.check(bool(name.strip()), path, "must not be blank"):
        check.check(len(name) <= NAME_MAX, path, f"must be at most {NAME_MAX} characters")
        printable = re.search(f"[{UNPRINTABLE}]", name) is None  # a NUL was accepted
        check.check(printable, path, "must not contain control characters", "control_characters")


def _create(command: CreateRestaurant, state: Restaurant) -> list[RestaurantEvent]:
    if state.exists:
        raise RuleViolated(
            f"restaurant {command.restaurant_id} already exists", code="already_exists"
        )
    check = Validation()
    _check_name(check, command.name)
    check.raise_if_invalid()
    return [RestaurantCreated(command.restaurant_id, command.name.strip())]


def _add(command: AddItems, state: Restaurant) -> list[RestaurantEvent]:
    """Every item is checked, and every issue of every item is reported at once (path
    ``items.<n>.<field>``), against the menu and against the other items of the batch."""
    check = Validation()
    check.check(bool(command.items), "items", "must list at least one item", "empty")
    names = {i.name for i in state.items}
    ids = {i.item_id for i in state.items}
    for n, item in enumerate(command.items):
        at = f"items.{n}"
        _check_name(check, item.name, f"{at}.name")
        check.check(item.price >= 1, f"{at}.price", "must be at least 1")
        check.check(item.price <= PRICE_MAX, f"{at}.price", f"must be at most {PRICE_MAX}")
        name = item.name.strip()
        if name and not check.check(
            name not in names,
            f"{at}.name",
            f"the menu already has an item named {name!r}",
            "duplicate",
        ):
            continue
        check.check(item.item_id not in ids, f"{at}.item_id", "is already on the menu", "duplicate")
        names.add(name)
        ids.add(item.item_id)
    room = MENU_MAX - len(state.items)
    check.check(
        len(command.items) <= room,
        "items",
        f"a menu has at most {MENU_MAX} items; {room} more fit",
        "menu_full",
    )
    check.raise_if_invalid()
    return [ItemAdded(i.item_id, i.name.strip(), i.price) for i in command.items]


def _remove(command: RemoveItems, state: Restaurant) -> list[RestaurantEvent]:
    """Every id must be on the menu, once; every issue is reported at once."""
    check = Validation()
    check.check(bool(command.item_ids), "item_ids", "must list at least one item", "empty")
    seen: set[str] = set()
    for n, item_id in enumerate(command.item_ids):
        at = f"item_ids.{n}"
        if check.check(item_id not in seen, at, f"item {item_id} is listed twice", "duplicate"):
            check.check(
                state.item(item_id) is not None,
                at,
                f"item {item_id} is not on the menu",
                "no_such_item",
            )
        seen.add(item_id)
    check.raise_if_invalid()
    return [ItemRemoved(item_id) for item_id in command.item_ids]


def decide(command: RestaurantCommand, state: Restaurant) -> Sequence[RestaurantEvent]:
    match command:
        case CreateRestaurant():
            return _create(command, state)
        case AddItems() | RemoveItems() if not state.exists:
            raise RuleViolated("the restaurant does not exist", code="not_found")
        case AddItems():
            return _add(command, state)
        case RemoveItems():
            return _remove(command, state)


restaurant: Decider[RestaurantCommand, Restaurant, RestaurantEvent] = Decider(
    category="restaurant",
    initial_state=Restaurant(),
    evolve=evolve,
    decide=decide,
)
