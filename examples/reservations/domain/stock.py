"""The stock aggregate: units of one SKU at one store, as two counters.

The state is ``on_hand`` (units physically in the store) and ``held`` (units reservations
hold), so it is the same few bytes whether ten or ten thousand reservations hold units, and
deciding a command costs the same. Which reservation holds how many units is recorded by
each reservation's own stream (its state has the quantity and the status), not here.

Invariants, at every version of a stock stream:

- ``available = on_hand - held >= 0`` and ``held >= 0``. A hold is refused when it asks for
  more than is available (``out_of_stock``); the inventory feed may not report fewer units
  on hand than are held (``below_held``; staff reject or cancel reservations first); a
  pickup takes its units out of ``on_hand`` and ``held`` together. Because every hold is
  decided against this one stream's version, two concurrent holds on the last unit cannot
  both commit: the second one's append conflicts, is decided again on the fresh state, and
  is refused.
- ``held`` equals the sum of the quantities of the reservations of this store and SKU whose
  status is accepted or secured. This decider cannot check that on its own (it no longer
  knows the holds); it holds because the application functions
  (:mod:`reservations.app`) only send the stock commands in the same session as the
  reservation's transition, and that session commits both streams in ONE atomic append:

  - ``HoldStock`` goes with ``RequestReservation``, which the reservation decider accepts
    once per reservation (``already_exists``): a reservation holds at most once;
  - ``ReleaseStock`` / ``HandOverStock`` go with reject, cancel, expire or pickup, which
    the reservation decider accepts only from accepted or secured and which leave those
    statuses for good: a hold ends at most once, and with the quantity the reservation
    recorded when it was accepted (the commands carry it from the reservation's state).

  The counters still refuse what would break the first invariant: a release or hand-over
  of more than is held is a ``RuleViolated`` (``not_held``), which only a caller bypassing
  the application functions can provoke.

Before the counters (fold "1") the state listed every open hold; old snapshots are tagged
with that fold, so the command handler ignores them and replays the stream's events, which
carry every quantity the counters need (see docs/services/reservations.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from eventfold import Decider, RuleViolated, invalid

# -- commands ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetStockLevel:
    """The store's inventory feed: ``on_hand`` units are physically in the store."""

    store_id: str
    sku: str
    on_hand: int
    now: datetime


@dataclass(frozen=True, slots=True)
class HoldStock:
    """Hold ``quantity`` units for a reservation."""

    store_id: str
    sku: str
    reservation_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ReleaseStock:
    """Give a reservation's held units back (it was rejected, canceled or expired).

    ``quantity`` is the reservation's, read from its state in the same session as its
    transition (the stock keeps counters, not a list of holds)."""

    reservation_id: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class HandOverStock:
    """A reservation's held units were picked up and leave the store (``quantity`` is the
    reservation's, as for :class:`ReleaseStock`)."""

    reservation_id: str
    quantity: int


StockCommand = SetStockLevel | HoldStock | ReleaseStock | HandOverStock


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StockLevelSet:
    """The store's inventory feed reported how many units are on hand."""

    store_id: str
    sku: str
    on_hand: int
    set_at: datetime


@dataclass(frozen=True, slots=True)
class StockReserved:
    """Units were held for a reservation: they stay on hand but are no longer available."""

    store_id: str
    sku: str
    reservation_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class StockReleased:
    """A reservation's hold ended without a pickup; its units are available again."""

    store_id: str
    sku: str
    reservation_id: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class StockHandedOver:
    """A reservation's units were picked up: they leave the store's stock."""

    store_id: str
    sku: str
    reservation_id: str
    quantity: int


StockEvent = StockLevelSet | StockReserved | StockReleased | StockHandedOver


# -- the decider ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stock:
    store_id: str = ""
    sku: str = ""
    on_hand: int = 0
    held: int = 0
    exists: bool = False

    @property
    def available(self) -> int:
        return self.on_hand - self.held


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
            return replace(state, held=state.held + event.quantity)
        case StockReleased():
            return replace(state, held=state.held - event.quantity)
        case StockHandedOver():
            return replace(
                state,
                held=state.held - event.quantity,
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
    if command.quantity > state.available:
        raise RuleViolated(
            f"only {state.available} of {command.sku} available at store {command.store_id}, "
            f"{command.quantity} requested",
            code="out_of_stock",
        )
    return [StockReserved(state.store_id, state.sku, command.reservation_id, command.quantity)]


def _check_held(state: Stock, reservation_id: str, quantity: int) -> None:
    if quantity < 1:
        raise invalid("must be at least 1", path="quantity")
    if quantity > state.held:
        # Unreachable through reservations.app (see the module docstring): a caller that
        # ends a hold twice, or one that never existed, would make ``held`` negative.
        raise RuleViolated(
            f"reservation {reservation_id} cannot give back {quantity} of "
            f"{state.sku or 'this stock'}: only {state.held} are held here",
            code="not_held",
        )


def decide(command: StockCommand, state: Stock) -> Sequence[StockEvent]:
    match command:
        case SetStockLevel():
            return _set_level(command, state)
        case HoldStock():
            return _hold(command, state)
        case ReleaseStock():
            _check_held(state, command.reservation_id, command.quantity)
            return [
                StockReleased(
                    state.store_id,
                    state.sku,
                    command.reservation_id,
                    command.quantity,
                    command.reason,
                )
            ]
        case HandOverStock():
            _check_held(state, command.reservation_id, command.quantity)
            return [
                StockHandedOver(state.store_id, state.sku, command.reservation_id, command.quantity)
            ]


stock: Decider[StockCommand, Stock, StockEvent] = Decider(
    category="stock",
    initial_state=Stock(),
    evolve=evolve,
    decide=decide,
    fold="2",
)
"""The stock decider. Streams: ``stock-<store id>/<sku>``. Fold "2": the counters (fold "1"
listed the holds)."""
