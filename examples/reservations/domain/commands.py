"""Commands of the reservation service. Each carries ``now`` so deciding stays pure: the
caller (an HTTP route, a scheduler) reads the clock, the domain never does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Canceler(StrEnum):
    """Who may cancel a reservation."""

    CUSTOMER = "customer"
    STAFF = "staff"
    SUPPORT = "support"


# -- reservation commands --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReservation:
    reservation_id: str
    customer_id: str
    store_id: str
    sku: str
    quantity: int
    now: datetime


@dataclass(frozen=True, slots=True)
class SecureStock:
    reservation_id: str
    now: datetime


@dataclass(frozen=True, slots=True)
class RejectReservation:
    reservation_id: str
    reason: str
    now: datetime


@dataclass(frozen=True, slots=True)
class CancelReservation:
    reservation_id: str
    canceled_by: Canceler
    reason: str
    now: datetime


@dataclass(frozen=True, slots=True)
class CompletePickup:
    reservation_id: str
    now: datetime


@dataclass(frozen=True, slots=True)
class ExpireReservation:
    reservation_id: str
    now: datetime


ReservationCommand = (
    RequestReservation
    | SecureStock
    | RejectReservation
    | CancelReservation
    | CompletePickup
    | ExpireReservation
)

# -- stock commands --------------------------------------------------------------------------


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
