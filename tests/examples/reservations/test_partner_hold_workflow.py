"""The partner-hold saga's pure definition, with the shipped given/when/then helper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventfold.testing import workflow_spec
from eventfold.workflows import (
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
)
from reservations.domain.partner_hold import (
    ConfirmHold,
    MailHoldRefused,
    PlaceHold,
    ReleaseHold,
    WithdrawReservation,
    partner_hold,
)
from reservations.domain.reservation import (
    EPOCH,
    ExpireReservation,
    ReservationAccepted,
    ReservationCanceled,
    ReservationPickedUp,
    StockSecured,
)

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
UNTIL = T0 + timedelta(days=7)
accepted = ReservationAccepted("r1", "c-1", "s1", "sku-1", 2, T0, UNTIL)
held = StepCompleted("place_hold", {"hold_id": "h-1"}, T0)
saga = workflow_spec(partner_hold)
NOT_HELD = "the partner could not hold the units"
REFUSED = "the partner refused: sold out"


def test_an_accepted_reservation_asks_the_partner_for_a_hold_and_sets_the_deadline() -> None:
    saga.when(accepted).then(
        Owe(Send("withdraw_reservation", WithdrawReservation("r1", NOT_HELD, EPOCH))),
        Call("place_hold", PlaceHold("r1", "s1", "sku-1", 2, UNTIL)),
        SetDeadline("secure_by", UNTIL),
    )


def test_a_hold_is_owed_back_once_the_partner_holds() -> None:
    release = Owe(Call("release_hold", ReleaseHold("h-1", "r1")))
    state = saga.given(accepted).when(held).then(release)
    assert state.hold_id == "h-1"


def test_a_refusal_withdraws_the_reservation_and_mails_the_customer() -> None:
    saga.given(accepted).when(StepRefused("place_hold", "sold out", T0)).then(
        Owe(Send("withdraw_reservation", WithdrawReservation("r1", REFUSED, T0))),
        Fail("the partner refused the hold: sold out"),
        Call("mail_refused", MailHoldRefused("c-1", "r1", "sold out")),
    )


def test_a_cancel_releases_the_hold_and_a_pickup_confirms_it() -> None:
    canceled = ReservationCanceled("r1", "customer", "no", T0)
    saga.given(accepted, held).when(canceled).then(
        Forgive("withdraw_reservation"), Fail("the reservation was canceled")
    )
    saga.given(accepted, held).when(StockSecured("r1", T0)).then(ClearDeadline("secure_by"))
    saga.given(accepted, held, StockSecured("r1", T0)).when(ReservationPickedUp("r1", T0)).then(
        Forgive("withdraw_reservation"),
        Forgive("release_hold"),
        Call("confirm_hold", ConfirmHold("h-1", "r1")),
        Finish("picked up"),
    )


def test_the_deadline_expires_the_reservation() -> None:
    saga.given(accepted, held).when(DeadlineReached("secure_by", UNTIL)).then(
        Owe(Send("withdraw_reservation", ExpireReservation("r1", UNTIL))),
        Fail("the store did not secure the units by the hold deadline"),
    )
