"""Application functions of the reservation service: each runs one command in one session.

A reservation and the stock it holds are two aggregates, two streams, two pure deciders.
The commands that move units between "available" and "held" (request, reject, cancel,
expire, pickup) decide on BOTH streams inside one :meth:`CommandHandler.run` session, so
the reservation's events and the stock's events commit in ONE atomic append, conditional
on both streams' versions. Two requests racing for the last unit therefore cannot both
commit: the loser's append conflicts on the stock stream, its session runs again on the
fresh stock, and the stock decider refuses it (``out_of_stock``).

The stock keeps counters (``on_hand``, ``held``), not a list of holds: a release or a
hand-over carries the quantity from the reservation's state, decided in the same session as
the reservation's transition. The reservation decider lets a reservation hold once and end
its hold once, and the one atomic append keeps both streams in step, so ``held`` is always
the sum of the quantities of the accepted and secured reservations of that stock (see
:mod:`reservations.domain.stock`). Send the stock commands only through these functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eventfold import (
    Actor,
    CommandHandler,
    EventCodec,
    EventStore,
    Forbidden,
    JsonCodec,
    Origin,
    Outcome,
    OutcomeCounter,
    Session,
    StreamNotFound,
    category_of,
    entity_id_of,
)
from reservations import policy
from reservations.domain.events import EVENT_TYPES
from reservations.domain.partner_hold import WithdrawReservation
from reservations.domain.reservation import (
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    Reservation,
    ReservationCommand,
    SecureStock,
    Status,
    reservation,
)
from reservations.domain.stock import (
    HandOverStock,
    HoldStock,
    ReleaseStock,
    SetStockLevel,
    Stock,
    stock,
    stock_entity_id,
)

JSON_CODEC = JsonCodec(EVENT_TYPES)

ATTEMPTS = 32
"""How often a session is decided again after a version conflict. A request only loses a
round when another command committed to the same stock stream in between, so a hot SKU
with n concurrent requests needs at most n rounds; past this bound the caller gets a
ConcurrencyConflict (409) and may retry."""


def make_handler(
    store: EventStore,
    codec: EventCodec = JSON_CODEC,
    *,
    attempts: int = ATTEMPTS,
    outcomes: OutcomeCounter | None = None,
) -> CommandHandler:
    """The service's command handler on ``store`` (``outcomes``: the entry point's count
    of how commands ended)."""
    return CommandHandler(store, codec, attempts=attempts, outcomes=outcomes)


def reservation_stream(reservation_id: str) -> str:
    return reservation.stream_id(reservation_id)


def stock_stream(store_id: str, sku: str) -> str:
    return stock.stream_id(stock_entity_id(store_id, sku))


@dataclass(frozen=True, slots=True)
class Placed:
    """A reservation that was accepted: its id and its stream's version."""

    reservation_id: str
    version: int


def set_stock_level(
    handler: CommandHandler, command: SetStockLevel, origin: Origin = Origin()
) -> int:
    """Record the inventory feed's count; returns the stock stream's version."""
    if origin.actor is not None:
        policy.may_set_stock(origin.actor, command.store_id)
    stream_id = stock_stream(command.store_id, command.sku)
    outcome = handler.execute(stock, stream_id, command, origin)
    return outcome.commit.versions[stream_id]


def request_reservation(
    handler: CommandHandler, command: RequestReservation, origin: Origin = Origin()
) -> Placed:
    """Accept the reservation and hold its units, atomically.

    StreamNotFound when the store has no stock record for the SKU; RuleViolated
    (``out_of_stock``) when fewer units are available than requested. A retry with the
    same command id returns the first reservation (its id is read back from the commit).
    """
    if origin.actor is not None:
        policy.reserving_customer(origin.actor, command.customer_id)
    stock_id = stock_stream(command.store_id, command.sku)
    hold = HoldStock(command.store_id, command.sku, command.reservation_id, command.quantity)

    def work(session: Session) -> None:
        session.execute(reservation, reservation_stream(command.reservation_id), command, new=True)
        session.execute(stock, stock_id, hold, must_exist=True)

    return _placed(handler.run(work, origin))


def _placed(outcome: Outcome[None]) -> Placed:
    for stream_id, version in outcome.commit.versions.items():
        if category_of(stream_id) == reservation.category:
            return Placed(entity_id_of(stream_id), version)
    raise AssertionError(f"commit {outcome.commit} wrote no reservation")  # pragma: no cover


Transition = ReservationCommand
"""A command on an existing reservation (the decider refuses a request for one)."""


def _transition_work(
    reservation_id: str,
    command_for: Callable[[Reservation], Transition],
    follow_up: Callable[[Reservation], ReleaseStock | HandOverStock] | None,
    actor: Actor | None,
    rule: policy.Rule,
) -> Callable[[Session], None]:
    stream_id = reservation_stream(reservation_id)

    def work(session: Session) -> None:
        current, version = session.state(reservation, stream_id)
        if version == 0:
            raise StreamNotFound(stream_id)
        if actor is not None:
            policy.enforce(rule, actor, current)
        session.execute(reservation, stream_id, command_for(current))
        # The reservation decider only lets a holding reservation (accepted, secured) end,
        # once: its state says which stock it holds and how many units to give back.
        if follow_up is not None:
            after, _ = session.state(reservation, stream_id)
            stock_id = stock_stream(after.store_id, after.sku)
            session.execute(stock, stock_id, follow_up(after), must_exist=True)

    return work


def _transition(
    handler: CommandHandler,
    reservation_id: str,
    command_for: Callable[[Reservation], Transition],
    follow_up: Callable[[Reservation], ReleaseStock | HandOverStock] | None,
    origin: Origin,
    rule: policy.Rule,
) -> int:
    work = _transition_work(reservation_id, command_for, follow_up, origin.actor, rule)
    outcome = handler.run(work, origin)
    return outcome.commit.versions[reservation_stream(reservation_id)]


def _releasing(reason: str) -> Callable[[Reservation], ReleaseStock]:
    return lambda held: ReleaseStock(held.reservation_id, held.quantity, reason)


def in_session(session: Session, command: object) -> None:
    """Decide a command the partner-hold saga sends, in the runner's session (its
    ``Dispatch``): the reservation's and the stock's events then commit in the same append
    as the saga's progress. The saga acts as the service: no caller policy applies."""
    match command:
        case WithdrawReservation(reservation_id=rid, reason=reason, now=now):

            def withdrawn(held: Reservation) -> Transition:
                if held.status is Status.SECURED:
                    return CancelReservation(rid, Canceler.SUPPORT, reason, now)
                return RejectReservation(rid, reason, now)

            def release(held: Reservation) -> ReleaseStock:
                ended = "canceled by support" if held.status is Status.CANCELED else "rejected"
                return ReleaseStock(held.reservation_id, held.quantity, f"{ended}: {reason}")

            _transition_work(rid, withdrawn, release, None, policy.may_expire)(session)
        case ExpireReservation(reservation_id=rid):
            expire = _transition_work(
                rid, _as_is(command), _releasing("expired"), None, policy.may_expire
            )
            expire(session)
        case _:
            raise TypeError(f"the reservation service does not take {type(command).__name__}")


def _as_is(command: Transition) -> Callable[[Reservation], Transition]:
    return lambda _: command


def change_reservation(
    handler: CommandHandler, command: Transition, origin: Origin, rule: policy.Rule
) -> int:
    """Decide a command that changes the reservation alone (no stock moves), once ``rule``
    let the caller act on its current state. Returns the reservation's version. A route
    for such a command calls this with its rule; no function of its own is needed."""
    return _transition(handler, command.reservation_id, _as_is(command), None, origin, rule)


def secure_stock(handler: CommandHandler, command: SecureStock, origin: Origin = Origin()) -> int:
    """Store staff put the units aside. Returns the reservation's version."""
    return change_reservation(handler, command, origin, policy.staff_of_store)


def reject_reservation(
    handler: CommandHandler, command: RejectReservation, origin: Origin = Origin()
) -> int:
    """Store staff reject the reservation; its units become available again."""
    reason = f"rejected: {command.reason}"

    def release(held: Reservation) -> ReleaseStock:
        return ReleaseStock(held.reservation_id, held.quantity, reason)

    return _transition(
        handler, command.reservation_id, _as_is(command), release, origin, policy.staff_of_store
    )


def cancel_reservation(
    handler: CommandHandler, command: CancelReservation, origin: Origin = Origin()
) -> int:
    """The customer, staff or support cancel; the units become available again. With an
    actor in ``origin``, ``command.canceled_by`` must be who the policy says the actor
    cancels as (see :func:`canceler_of`)."""
    reason = f"canceled by {command.canceled_by.value}: {command.reason}"

    def rule(actor: Actor, held: Reservation) -> None:
        acting_as = policy.canceler(actor, held)
        if acting_as != command.canceled_by:
            raise Forbidden(f"you cancel as {acting_as}")

    def release(held: Reservation) -> ReleaseStock:
        return ReleaseStock(held.reservation_id, held.quantity, reason)

    return _transition(handler, command.reservation_id, _as_is(command), release, origin, rule)


def canceler_of(handler: CommandHandler, reservation_id: str, actor: Actor) -> Canceler:
    """Who ``actor`` cancels the reservation as: its customer, staff of its store or
    support (StreamNotFound when it does not exist or ``actor`` may not see it; Forbidden
    when they may see it but not cancel it)."""
    held = reservation_of(handler, reservation_id)
    if held.status is Status.NEW:
        raise StreamNotFound(reservation_stream(reservation_id))
    policy.enforce(policy.may_cancel, actor, held)
    return policy.canceler(actor, held)


def complete_pickup(
    handler: CommandHandler, command: CompletePickup, origin: Origin = Origin()
) -> int:
    """The customer collected the units: they leave the store's stock."""

    def hand_over(held: Reservation) -> HandOverStock:
        return HandOverStock(held.reservation_id, held.quantity)

    return _transition(
        handler, command.reservation_id, _as_is(command), hand_over, origin, policy.staff_of_store
    )


def expire_reservation(
    handler: CommandHandler, command: ExpireReservation, origin: Origin = Origin()
) -> int:
    """The hold deadline passed: the reservation expires and its units are released."""

    return _transition(
        handler,
        command.reservation_id,
        _as_is(command),
        _releasing("expired"),
        origin,
        policy.may_expire,
    )


def stock_of(handler: CommandHandler, store_id: str, sku: str) -> Stock:
    """The write model's current stock of a SKU at a store (for checks and tests; readers
    use the query model)."""
    session = Session(handler.store, handler.codec)
    current, _ = session.state(stock, stock_stream(store_id, sku))
    return current


def reservation_of(handler: CommandHandler, reservation_id: str) -> Reservation:
    """The write model's current state of a reservation (``Status.NEW`` if unknown)."""
    session = Session(handler.store, handler.codec)
    current, _ = session.state(reservation, reservation_stream(reservation_id))
    return current
