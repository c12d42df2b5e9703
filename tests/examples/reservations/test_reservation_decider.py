"""Given / when / then for every rule of the reservation decider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventfold import InvalidCommand, RuleViolated
from eventfold.testing import spec
from reservations.domain.reservation import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    ReservationAccepted,
    ReservationCanceled,
    ReservationExpired,
    ReservationPickedUp,
    ReservationRejected,
    SecureStock,
    Status,
    StockSecured,
    reservation,
)

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
RID = "r1"
ACCEPTED = ReservationAccepted(RID, "c1", "s1", "sku1", 2, NOW, NOW + HOLD_PERIOD)
SECURED = StockSecured(RID, LATER)
REJECTED = ReservationRejected(RID, "damaged", LATER)
CANCELED = ReservationCanceled(RID, "customer", "changed my mind", LATER)
PICKED_UP = ReservationPickedUp(RID, LATER)
EXPIRED = ReservationExpired(RID, NOW + HOLD_PERIOD)


def request(quantity: int = 2) -> RequestReservation:
    return RequestReservation(RID, "c1", "s1", "sku1", quantity, NOW)


def test_a_request_is_accepted_with_a_hold_deadline() -> None:
    state = spec(reservation).given().when(request()).then(ACCEPTED)
    assert state.status is Status.ACCEPTED
    assert state.hold_until == NOW + HOLD_PERIOD


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_quantity_must_be_between_1_and_99(quantity: int) -> None:
    spec(reservation).given().when(request(quantity)).raises(InvalidCommand, "quantity")


def test_every_invalid_field_is_reported_at_once() -> None:
    command = RequestReservation(RID, "", "", "sku1", 0, NOW)
    error = spec(reservation).given().when(command).raises(InvalidCommand)
    assert isinstance(error, InvalidCommand)
    assert {i.path for i in error.issues} == {"quantity", "customer_id", "store_id"}


def test_a_reservation_id_is_used_once() -> None:
    spec(reservation).given(ACCEPTED).when(request()).raises(RuleViolated, "already exists")


def test_staff_secure_an_accepted_reservation() -> None:
    state = spec(reservation).given(ACCEPTED).when(SecureStock(RID, LATER)).then(SECURED)
    assert state.status is Status.SECURED
    assert state.holds_stock


def test_a_secured_reservation_is_not_secured_twice() -> None:
    spec(reservation).given(ACCEPTED, SECURED).when(SecureStock(RID, LATER)).raises(
        RuleViolated, "is secured"
    )


def test_staff_reject_an_accepted_reservation() -> None:
    command = RejectReservation(RID, "damaged", LATER)
    state = spec(reservation).given(ACCEPTED).when(command).then(REJECTED)
    assert not state.holds_stock


def test_a_secured_reservation_cannot_be_rejected() -> None:
    command = RejectReservation(RID, "damaged", LATER)
    spec(reservation).given(ACCEPTED, SECURED).when(command).raises(RuleViolated, "secured")


def test_a_rejection_needs_a_reason() -> None:
    command = RejectReservation(RID, "  ", LATER)
    spec(reservation).given(ACCEPTED).when(command).raises(InvalidCommand, "reason")


@pytest.mark.parametrize("history", [(ACCEPTED,), (ACCEPTED, SECURED)])
@pytest.mark.parametrize("who", list(Canceler))
def test_a_holding_reservation_can_be_canceled_by_anyone(
    history: tuple[object, ...], who: Canceler
) -> None:
    command = CancelReservation(RID, who, "changed my mind", LATER)
    given = spec(reservation).given(*history)  # type: ignore[arg-type]
    state = given.when(command).then(ReservationCanceled(RID, who.value, "changed my mind", LATER))
    assert state.status is Status.CANCELED


@pytest.mark.parametrize("ended", [REJECTED, CANCELED, EXPIRED])
def test_an_ended_reservation_cannot_be_canceled(ended: object) -> None:
    command = CancelReservation(RID, Canceler.SUPPORT, "why", LATER)
    spec(reservation).given(ACCEPTED, ended).when(command).raises(  # type: ignore[arg-type]
        RuleViolated, "cannot be canceled"
    )


def test_a_cancellation_needs_a_reason() -> None:
    command = CancelReservation(RID, Canceler.CUSTOMER, "", LATER)
    spec(reservation).given(ACCEPTED).when(command).raises(InvalidCommand, "reason")


def test_a_secured_reservation_is_picked_up() -> None:
    state = (
        spec(reservation).given(ACCEPTED, SECURED).when(CompletePickup(RID, LATER)).then(PICKED_UP)
    )
    assert state.status is Status.PICKED_UP
    assert not state.holds_stock


def test_pickup_needs_secured_stock() -> None:
    spec(reservation).given(ACCEPTED).when(CompletePickup(RID, LATER)).raises(
        RuleViolated, "not secured yet"
    )


def test_a_picked_up_reservation_is_final() -> None:
    given = spec(reservation).given(ACCEPTED, SECURED, PICKED_UP)
    given.when(CompletePickup(RID, LATER)).raises(RuleViolated, "picked_up")
    given.when(CancelReservation(RID, Canceler.STAFF, "x", LATER)).raises(RuleViolated)
    given.when(ExpireReservation(RID, NOW + HOLD_PERIOD)).raises(RuleViolated)


@pytest.mark.parametrize("history", [(ACCEPTED,), (ACCEPTED, SECURED)])
def test_a_holding_reservation_expires_at_its_deadline(history: tuple[object, ...]) -> None:
    command = ExpireReservation(RID, NOW + HOLD_PERIOD)
    spec(reservation).given(*history).when(command).then(EXPIRED)  # type: ignore[arg-type]


def test_a_reservation_does_not_expire_before_its_deadline() -> None:
    command = ExpireReservation(RID, NOW + HOLD_PERIOD - timedelta(seconds=1))
    spec(reservation).given(ACCEPTED).when(command).raises(RuleViolated, "held until")


def test_an_expired_reservation_does_not_expire_again() -> None:
    command = ExpireReservation(RID, NOW + 2 * HOLD_PERIOD)
    spec(reservation).given(ACCEPTED, EXPIRED).when(command).raises(RuleViolated, "expired")


@pytest.mark.parametrize(
    "command",
    [
        SecureStock(RID, LATER),
        RejectReservation(RID, "x", LATER),
        CancelReservation(RID, Canceler.CUSTOMER, "x", LATER),
        CompletePickup(RID, LATER),
        ExpireReservation(RID, LATER),
    ],
)
def test_nothing_happens_to_a_reservation_that_does_not_exist(command: object) -> None:
    spec(reservation).given().when(command).raises(  # type: ignore[arg-type]
        RuleViolated, "does not exist"
    )
