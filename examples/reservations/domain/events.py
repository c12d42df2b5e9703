"""The reservation service's domain events: its published language.

Two aggregates write events. A reservation (stream ``reservation-<id>``) records what
happened to one customer's request; the stock of one SKU at one store (stream
``stock-<store>/<sku>``) records how many units are on hand and which reservations hold
them. Payloads are deliberately simple (str, int, datetime) so the JSON codec and a
protobuf codec can both carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventfold import EventTypes

# -- the reservation -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReservationAccepted:
    """A customer's reservation was accepted and its units are held (the seed's OrderAccepted)."""

    reservation_id: str
    customer_id: str
    store_id: str
    sku: str
    quantity: int
    accepted_at: datetime
    hold_until: datetime


@dataclass(frozen=True, slots=True)
class StockSecured:
    """Store staff put the units aside; the customer can come and pick them up."""

    reservation_id: str
    secured_at: datetime


@dataclass(frozen=True, slots=True)
class ReservationRejected:
    """Store staff could not serve the reservation; its units are released."""

    reservation_id: str
    reason: str
    rejected_at: datetime


@dataclass(frozen=True, slots=True)
class ReservationCanceled:
    """The customer, store staff or support canceled (the seed's OrderCanceled)."""

    reservation_id: str
    canceled_by: str
    reason: str
    canceled_at: datetime


@dataclass(frozen=True, slots=True)
class ReservationPickedUp:
    """The customer collected the units; they leave the store's stock."""

    reservation_id: str
    picked_up_at: datetime


@dataclass(frozen=True, slots=True)
class ReservationExpired:
    """The hold deadline passed without a pickup; the units are released."""

    reservation_id: str
    expired_at: datetime


# -- the stock of one SKU at one store -------------------------------------------------------


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


ReservationEvent = (
    ReservationAccepted
    | StockSecured
    | ReservationRejected
    | ReservationCanceled
    | ReservationPickedUp
    | ReservationExpired
)
StockEvent = StockLevelSet | StockReserved | StockReleased | StockHandedOver

RESERVATION_EVENTS: tuple[type, ...] = (
    ReservationAccepted,
    StockSecured,
    ReservationRejected,
    ReservationCanceled,
    ReservationPickedUp,
    ReservationExpired,
)
STOCK_EVENTS: tuple[type, ...] = (StockLevelSet, StockReserved, StockReleased, StockHandedOver)


def event_types() -> EventTypes:
    """A registry naming every event of the service (the name is the class name)."""
    types = EventTypes()
    for cls in (*RESERVATION_EVENTS, *STOCK_EVENTS):
        types.register(cls)
    return types


EVENT_TYPES = event_types()
