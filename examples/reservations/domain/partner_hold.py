"""The partner-hold saga: a reservation's units held at the external inventory partner too.

    ReservationAccepted --> Call place_hold (POST /holds)       owes: withdraw the reservation
        partner holds   --> owes: release_hold (DELETE /holds/{id})
        partner refuses --> Fail: withdraw the reservation (rejected with the partner's
                            reason; its stock released), then e-mail the customer
    StockSecured        --> the "secure by" deadline is cleared
    ReservationPickedUp --> Call confirm_hold; Finish (nothing owed any more)
    canceled / rejected / expired elsewhere --> Fail: release_hold (if the partner holds)
    deadline secure_by (hold_until, not secured) --> Fail: release_hold, then expire the
                            reservation (compensations in reverse order of their steps)

Pure: the runner (``eventfold.workflows.WorkflowRunner``) performs the actions. Times come
from the events (a reservation's, a step's or a deadline's), never from a clock, so the
same history always gives the same actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from eventfold.workflows import (
    Action,
    Call,
    ClearDeadline,
    DeadlineReached,
    Fail,
    Finish,
    Forgive,
    Owe,
    Send,
    SetDeadline,
    StepCompleted,
    StepRefused,
    Workflow,
)
from reservations.domain.reservation import (
    EPOCH,
    ExpireReservation,
    ReservationAccepted,
    ReservationCanceled,
    ReservationExpired,
    ReservationPickedUp,
    ReservationRejected,
    StockSecured,
)

CATEGORY = "partnerhold"
SECURE_BY = "secure_by"
PLACE_HOLD = "place_hold"
CONFIRM_HOLD = "confirm_hold"
MAIL_REFUSED = "mail_refused"
WITHDRAW = "withdraw_reservation"
"""Compensation of the reservation's own hold on the stock."""
RELEASE_HOLD = "release_hold"
"""Compensation of the partner's hold."""


# -- what the saga asks for ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlaceHold:
    reservation_id: str
    store_id: str
    sku: str
    quantity: int
    hold_until: datetime


@dataclass(frozen=True, slots=True)
class ReleaseHold:
    hold_id: str
    reservation_id: str


@dataclass(frozen=True, slots=True)
class ConfirmHold:
    hold_id: str
    reservation_id: str


@dataclass(frozen=True, slots=True)
class MailHoldRefused:
    customer_id: str
    reservation_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class WithdrawReservation:
    """End a reservation the partner could not back: rejected with ``reason`` while it is
    accepted; one the store secured meanwhile is canceled by support with that reason
    (staff may not reject a secured reservation). Either way its stock is released."""

    reservation_id: str
    reason: str
    now: datetime


# -- the saga's state ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartnerHold:
    reservation_id: str = ""
    customer_id: str = ""
    store_id: str = ""
    sku: str = ""
    quantity: int = 0
    hold_until: datetime = EPOCH
    hold_id: str = ""
    reservation: str = "new"
    """What the saga saw of the reservation: accepted, secured, picked_up or ended."""


ENDED = (ReservationCanceled, ReservationRejected, ReservationExpired)


def starts(event: object) -> bool:
    return isinstance(event, ReservationAccepted)


def correlate(event: object) -> str | None:
    reservation_id = getattr(event, "reservation_id", None)
    return reservation_id if isinstance(reservation_id, str) else None


def evolve(state: PartnerHold, event: object) -> PartnerHold:
    match event:
        case ReservationAccepted():
            return PartnerHold(
                event.reservation_id,
                event.customer_id,
                event.store_id,
                event.sku,
                event.quantity,
                event.hold_until,
                reservation="accepted",
            )
        case StockSecured():
            return replace(state, reservation="secured")
        case ReservationPickedUp():
            return replace(state, reservation="picked_up")
        case ReservationCanceled() | ReservationRejected() | ReservationExpired():
            return replace(state, reservation="ended")
        case StepCompleted(step=step, result=result) if step == PLACE_HOLD:
            return replace(state, hold_id=str(result["hold_id"]))
        case _:
            return state


def _release(state: PartnerHold) -> Owe:
    return Owe(Call(RELEASE_HOLD, ReleaseHold(state.hold_id, state.reservation_id)))


def react(state: PartnerHold, event: object) -> Sequence[Action]:
    rid = state.reservation_id
    match event:
        case ReservationAccepted():
            placeholder = WithdrawReservation(rid, "the partner could not hold the units", EPOCH)
            request = PlaceHold(rid, state.store_id, state.sku, state.quantity, state.hold_until)
            return [
                Owe(Send(WITHDRAW, placeholder)),
                Call(PLACE_HOLD, request),
                SetDeadline(SECURE_BY, state.hold_until),
            ]
        case StockSecured():
            return [ClearDeadline(SECURE_BY)]
        case ReservationPickedUp():
            confirm = [Call(CONFIRM_HOLD, ConfirmHold(state.hold_id, rid))] if state.hold_id else []
            return [Forgive(WITHDRAW), Forgive(RELEASE_HOLD), *confirm, Finish("picked up")]
        case ReservationCanceled() | ReservationRejected() | ReservationExpired():
            ended = type(event).__name__.removeprefix("Reservation").lower()
            return [Forgive(WITHDRAW), Fail(f"the reservation was {ended}")]
        case StepCompleted(step=step) if step == PLACE_HOLD:
            if state.reservation == "picked_up":  # picked up before the partner answered
                return [Call(CONFIRM_HOLD, ConfirmHold(state.hold_id, rid))]
            return [_release(state)]
        case StepRefused(step=step, reason=reason, at=at) if step == PLACE_HOLD:
            if state.reservation in ("ended", "picked_up"):
                return []
            withdraw = WithdrawReservation(rid, f"the partner refused: {reason}", at)
            return [
                Owe(Send(WITHDRAW, withdraw)),
                Fail(f"the partner refused the hold: {reason}"),
                Call(MAIL_REFUSED, MailHoldRefused(state.customer_id, rid, reason)),
            ]
        case DeadlineReached(key=key, at=at) if key == SECURE_BY:
            return [
                Owe(Send(WITHDRAW, ExpireReservation(rid, at))),
                Fail("the store did not secure the units by the hold deadline"),
            ]
        case _:
            return []


partner_hold: Workflow[PartnerHold] = Workflow(
    category=CATEGORY,
    initial_state=PartnerHold(),
    starts=starts,
    correlate=correlate,
    evolve=evolve,
    react=react,
    payloads=(
        PlaceHold,
        ReleaseHold,
        ConfirmHold,
        MailHoldRefused,
        WithdrawReservation,
        ExpireReservation,
    ),
)
"""The saga's definition. Instance streams: ``partnerhold-<reservation id>``."""
