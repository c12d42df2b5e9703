"""The reservation aggregate: one customer's request to hold units of a SKU at a store.

    (new) --request--> accepted --secure--> secured --pickup--> picked_up
                           |                   |
                           +--reject-----------|------------> rejected
                           +--cancel-----------+------------> canceled
                           +--expire (deadline passed)------> expired

Accepted and secured reservations hold stock; every way out except pickup gives it back
(the stock side of that lives in :mod:`reservations.domain.stock`). The stock only counts
the units held, so this state machine is what makes each hold count once: a reservation
is accepted once (``already_exists``) and leaves the holding statuses at most once, and its
``quantity`` is what the stock gives back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from eventfold import Decider, RuleViolated, Validation, invalid

# -- commands (each carries ``now``: the caller reads the clock, deciding never does) --


class Canceler(StrEnum):
    """Who may cancel a reservation."""

    CUSTOMER = "customer"
    STAFF = "staff"
    SUPPORT = "support"


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


@dataclass(frozen=True, slots=True)
class ExtendHold:
    """Give the customer ``days`` more to pick up (from the deadline, or from now if it
    passed already)."""

    reservation_id: str
    days: int
    now: datetime


ReservationCommand = (
    RequestReservation
    | SecureStock
    | RejectReservation
    | CancelReservation
    | CompletePickup
    | ExpireReservation
    | ExtendHold
)


# -- events: what happened to it (its part of the published language) ----------------------


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


@dataclass(frozen=True, slots=True)
class HoldExtended:
    """The customer got more time: the units are held until ``hold_until``."""

    reservation_id: str
    hold_until: datetime
    extended_at: datetime


ReservationEvent = (
    ReservationAccepted
    | StockSecured
    | ReservationRejected
    | ReservationCanceled
    | ReservationPickedUp
    | ReservationExpired
    | HoldExtended
)


# -- the decider ---------------------------------------------------------------------------


HOLD_PERIOD = timedelta(days=7)
"""How long an accepted reservation holds its units before it may be expired."""

MAX_QUANTITY = 99
MAX_EXTENSION_DAYS = 14
"""The most days one extension may add."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Status(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    SECURED = "secured"
    PICKED_UP = "picked_up"
    REJECTED = "rejected"
    CANCELED = "canceled"
    EXPIRED = "expired"


HOLDING = (Status.ACCEPTED, Status.SECURED)
"""The statuses in which a reservation holds stock."""


@dataclass(frozen=True, slots=True)
class Reservation:
    status: Status = Status.NEW
    reservation_id: str = ""
    customer_id: str = ""
    store_id: str = ""
    sku: str = ""
    quantity: int = 0
    hold_until: datetime = EPOCH

    @property
    def holds_stock(self) -> bool:
        return self.status in HOLDING


def evolve(state: Reservation, event: ReservationEvent) -> Reservation:
    match event:
        case ReservationAccepted():
            return Reservation(
                Status.ACCEPTED,
                event.reservation_id,
                event.customer_id,
                event.store_id,
                event.sku,
                event.quantity,
                event.hold_until,
            )
        case StockSecured():
            return replace(state, status=Status.SECURED)
        case ReservationRejected():
            return replace(state, status=Status.REJECTED)
        case ReservationCanceled():
            return replace(state, status=Status.CANCELED)
        case ReservationPickedUp():
            return replace(state, status=Status.PICKED_UP)
        case ReservationExpired():
            return replace(state, status=Status.EXPIRED)
        case HoldExtended():
            return replace(state, hold_until=event.hold_until)


def _refuse(state: Reservation, reservation_id: str, action: str) -> RuleViolated:
    if state.status is Status.NEW:
        return RuleViolated(f"reservation {reservation_id} does not exist", code="not_found")
    return RuleViolated(
        f"reservation {reservation_id} is {state.status.value}: it cannot be {action}",
        code="invalid_transition",
    )


def _request(command: RequestReservation, state: Reservation) -> list[ReservationEvent]:
    if state.status is not Status.NEW:
        raise RuleViolated(
            f"reservation {command.reservation_id} already exists", code="already_exists"
        )
    check = Validation()
    check.check(command.quantity >= 1, "quantity", "must be at least 1")
    check.check(command.quantity <= MAX_QUANTITY, "quantity", f"must be at most {MAX_QUANTITY}")
    for path in ("reservation_id", "customer_id", "store_id", "sku"):
        check.check(bool(getattr(command, path)), path, "must not be empty")
    check.raise_if_invalid()
    return [
        ReservationAccepted(
            command.reservation_id,
            command.customer_id,
            command.store_id,
            command.sku,
            command.quantity,
            accepted_at=command.now,
            hold_until=command.now + HOLD_PERIOD,
        )
    ]


def decide(command: ReservationCommand, state: Reservation) -> Sequence[ReservationEvent]:
    match command:
        case RequestReservation():
            return _request(command, state)
        case SecureStock() if state.status is Status.ACCEPTED:
            return [StockSecured(state.reservation_id, command.now)]
        case SecureStock():
            raise _refuse(state, command.reservation_id, "secured")
        case RejectReservation() if not command.reason.strip():
            raise invalid("a rejection needs a reason", path="reason")
        case RejectReservation() if state.status is Status.ACCEPTED:
            return [ReservationRejected(state.reservation_id, command.reason, command.now)]
        case RejectReservation():
            raise _refuse(state, command.reservation_id, "rejected")
        case CancelReservation() if not command.reason.strip():
            raise invalid("a cancellation needs a reason", path="reason")
        case CancelReservation() if state.holds_stock:
            return [
                ReservationCanceled(
                    state.reservation_id, command.canceled_by.value, command.reason, command.now
                )
            ]
        case CancelReservation():
            raise _refuse(state, command.reservation_id, "canceled")
        case CompletePickup() if state.status is Status.SECURED:
            return [ReservationPickedUp(state.reservation_id, command.now)]
        case CompletePickup() if state.status is Status.ACCEPTED:
            raise RuleViolated(
                f"reservation {state.reservation_id} is not secured yet: store staff must "
                "secure the stock before it can be picked up",
                code="invalid_transition",
            )
        case CompletePickup():
            raise _refuse(state, command.reservation_id, "picked up")
        case ExpireReservation() if state.holds_stock and command.now < state.hold_until:
            raise RuleViolated(
                f"reservation {state.reservation_id} is held until "
                f"{state.hold_until.isoformat()}: it cannot expire before then",
                code="not_due",
            )
        case ExpireReservation() if state.holds_stock:
            return [ReservationExpired(state.reservation_id, command.now)]
        case ExpireReservation():
            raise _refuse(state, command.reservation_id, "expired")
        case ExtendHold() if not 1 <= command.days <= MAX_EXTENSION_DAYS:
            raise invalid(f"must be between 1 and {MAX_EXTENSION_DAYS}", path="days")
        case ExtendHold() if state.holds_stock:
            start = max(state.hold_until, command.now)
            until = start + timedelta(days=command.days)
            return [HoldExtended(state.reservation_id, until, command.now)]
        case ExtendHold():
            raise _refuse(state, command.reservation_id, "extended")


reservation: Decider[ReservationCommand, Reservation, ReservationEvent] = Decider(
    category="reservation",
    initial_state=Reservation(),
    evolve=evolve,
    decide=decide,
)
"""The reservation decider. Streams: ``reservation-<reservation id>``."""
