"""The stock aggregate: units of one SKU at one store, and which reservations hold them.

``available = on_hand - held``. The invariant: available never goes negative. A hold is
refused when it asks for more than is available, and the inventory feed may not report
fewer units on hand than reservations hold (staff reject or cancel those first). Because
every hold is decided against this one stream's version, two concurrent holds on the last
unit cannot both commit: the second one's append conflicts, is decided again on the fresh
state, and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from eventfold import Decider, RuleViolated, invalid
from reservations.domain.commands import (
    HandOverStock,
    HoldStock,
    ReleaseStock,
    SetStockLevel,
    StockCommand,
)
from reservations.domain.events import (
    StockEvent,
    StockHandedOver,
    StockLevelSet,
    StockReleased,
    StockReserved,
)


@dataclass(frozen=True, slots=True)
class Hold:
    reservation_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Stock:
    store_id: str = ""
    sku: str = ""
    on_hand: int = 0
    holds: tuple[Hold, ...] = ()
    exists: bool = False

    @property
    def held(self) -> int:
        return sum(hold.quantity for hold in self.holds)

    @property
    def available(self) -> int:
        return self.on_hand - self.held

    def hold_of(self, reservation_id: str) -> Hold | None:
        return next((h for h in self.holds if h.reservation_id == reservation_id), None)

    def without(self, reservation_id: str) -> tuple[Hold, ...]:
        return tuple(h for h in self.holds if h.reservation_id != reservation_id)


def stock_entity_id(store_id: str, sku: str) -> str:
    """The entity part of a stock stream id: ``<store>/<sku>`` (ids never contain '/')."""
    return f"{store_id}/{sku}"


def evolve(state: Stock, event: StockEvent) -> Stock:
    match event:
        case StockLevelSet():
            return replace(
                state, store_id=event.store_id, sku=event.sku, on_hand=event.on_hand, exists=True
            )
        case StockReserved():
            hold = Hold(event.reservation_id, event.quantity)
            return replace(state, holds=(*state.holds, hold))
        case StockReleased():
            return replace(state, holds=state.without(event.reservation_id))
        case StockHandedOver():
            return replace(
                state,
                holds=state.without(event.reservation_id),
                on_hand=state.on_hand - event.quantity,
            )


def _set_level(command: SetStockLevel, state: Stock) -> list[StockEvent]:
    if command.on_hand < 0:
        raise invalid("must not be negative", path="on_hand")
    if command.on_hand < state.held:
        raise RuleViolated(
            f"{command.sku} at store {command.store_id}: {command.on_hand} on hand is fewer "
            f"than the {state.held} units reservations hold; reject or cancel those "
            "reservations first",
            code="below_held",
        )
    if state.exists and command.on_hand == state.on_hand:
        return []  # the feed repeated itself: nothing happened
    return [StockLevelSet(command.store_id, command.sku, command.on_hand, command.now)]


def _hold(command: HoldStock, state: Stock) -> list[StockEvent]:
    if not state.exists:
        raise RuleViolated(
            f"store {command.store_id} has no stock record for {command.sku}",
            code="unknown_stock",
        )
    if command.quantity < 1:
        raise invalid("must be at least 1", path="quantity")
    if state.hold_of(command.reservation_id) is not None:
        raise RuleViolated(
            f"reservation {command.reservation_id} already holds {command.sku}",
            code="already_held",
        )
    if command.quantity > state.available:
        raise RuleViolated(
            f"only {state.available} of {command.sku} available at store {command.store_id}, "
            f"{command.quantity} requested",
            code="out_of_stock",
        )
    return [StockReserved(state.store_id, state.sku, command.reservation_id, command.quantity)]


def _held(state: Stock, reservation_id: str) -> Hold:
    hold = state.hold_of(reservation_id)
    if hold is None:
        raise RuleViolated(
            f"reservation {reservation_id} holds no {state.sku or 'stock'} here",
            code="not_held",
        )
    return hold


def decide(command: StockCommand, state: Stock) -> Sequence[StockEvent]:
    match command:
        case SetStockLevel():
            return _set_level(command, state)
        case HoldStock():
            return _hold(command, state)
        case ReleaseStock():
            hold = _held(state, command.reservation_id)
            return [
                StockReleased(
                    state.store_id, state.sku, hold.reservation_id, hold.quantity, command.reason
                )
            ]
        case HandOverStock():
            hold = _held(state, command.reservation_id)
            return [StockHandedOver(state.store_id, state.sku, hold.reservation_id, hold.quantity)]


stock: Decider[StockCommand, Stock, StockEvent] = Decider(
    category="stock",
    initial_state=Stock(),
    evolve=evolve,
    decide=decide,
)
"""The stock decider. Streams: ``stock-<store id>/<sku>``."""
