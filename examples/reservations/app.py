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
    CommandHandler,
    EventCodec,
    EventStore,
    JsonCodec,
    Outcome,
    Session,
    category_of,
    entity_id_of,
)
from reservations.domain import (
    EVENT_TYPES,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    HandOverStock,
    HoldStock,
    RejectReservation,
    ReleaseStock,
    RequestReservation,
    Reservation,
    SecureStock,
    SetStockLevel,
    Stock,
    reservation,
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
    store: EventStore, codec: EventCodec = JSON_CODEC, *, attempts: int = ATTEMPTS
) -> CommandHandler:
    """The service's command handler on ``store``."""
    return CommandHandler(store, codec, attempts=attempts)


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
    handler: CommandHandler, command: SetStockLevel, *, command_id: str | None = None
) -> int:
    """Record the inventory feed's count; returns the stock stream's version."""
    stream_id = stock_stream(command.store_id, command.sku)
    outcome = handler.run(
        lambda session: session.execute(stock, stream_id, command),
        command_id=command_id,
        request=("set_stock_level", stream_id, command.on_hand),
    )
    return outcome.commit.versions[stream_id]


def request_reservation(
    handler: CommandHandler, command: RequestReservation, *, command_id: str | None = None
) -> Placed:
    """Accept the reservation and hold its units, atomically.

    StreamNotFound when the store has no stock record for the SKU; RuleViolated
    (``out_of_stock``) when fewer units are available than requested. A retry with the
    same ``command_id`` returns the first reservation (its id is read back from the commit).
    """
    stock_id = stock_stream(command.store_id, command.sku)
    hold = HoldStock(command.store_id, command.sku, command.reservation_id, command.quantity)

    def work(session: Session) -> None:
        session.execute(reservation, reservation_stream(command.reservation_id), command)
        session.execute(stock, stock_id, hold, must_exist=True)

    outcome = handler.run(
        work,
        command_id=command_id,
        request=(
            "request_reservation",
            command.customer_id,
            command.store_id,
            command.sku,
            command.quantity,
        ),
    )
    return _placed(outcome)


def _placed(outcome: Outcome[None]) -> Placed:
    for stream_id, version in outcome.commit.versions.items():
        if category_of(stream_id) == reservation.category:
            return Placed(entity_id_of(stream_id), version)
    raise AssertionError(f"commit {outcome.commit} wrote no reservation")  # pragma: no cover


def _transition(
    handler: CommandHandler,
    command: SecureStock
    | RejectReservation
    | CancelReservation
    | CompletePickup
    | ExpireReservation,
    follow_up: Callable[[Reservation], ReleaseStock | HandOverStock] | None,
    *,
    command_id: str | None,
    content: tuple[object, ...],
) -> int:
    stream_id = reservation_stream(command.reservation_id)

    def work(session: Session) -> None:
        session.execute(reservation, stream_id, command, must_exist=True)
        # The reservation decider only lets a holding reservation (accepted, secured) end,
        # once: its state says which stock it holds and how many units to give back.
        if follow_up is not None:
            after, _ = session.state(reservation, stream_id)
            stock_id = stock_stream(after.store_id, after.sku)
            session.execute(stock, stock_id, follow_up(after), must_exist=True)

    outcome = handler.run(
        work,
        command_id=command_id,
        request=(type(command).__name__, command.reservation_id, *content),
    )
    return outcome.commit.versions[stream_id]


def secure_stock(
    handler: CommandHandler, command: SecureStock, *, command_id: str | None = None
) -> int:
    """Store staff put the units aside. Returns the reservation's version."""
    return _transition(handler, command, None, command_id=command_id, content=())


def reject_reservation(
    handler: CommandHandler, command: RejectReservation, *, command_id: str | None = None
) -> int:
    """Store staff reject the reservation; its units become available again."""
    reason = f"rejected: {command.reason}"

    def release(held: Reservation) -> ReleaseStock:
        return ReleaseStock(held.reservation_id, held.quantity, reason)

    return _transition(handler, command, release, command_id=command_id, content=(command.reason,))


def cancel_reservation(
    handler: CommandHandler, command: CancelReservation, *, command_id: str | None = None
) -> int:
    """The customer, staff or support cancel; the units become available again."""
    reason = f"canceled by {command.canceled_by.value}: {command.reason}"

    def release(held: Reservation) -> ReleaseStock:
        return ReleaseStock(held.reservation_id, held.quantity, reason)

    content = (command.canceled_by.value, command.reason)
    return _transition(handler, command, release, command_id=command_id, content=content)


def complete_pickup(
    handler: CommandHandler, command: CompletePickup, *, command_id: str | None = None
) -> int:
    """The customer collected the units: they leave the store's stock."""

    def hand_over(held: Reservation) -> HandOverStock:
        return HandOverStock(held.reservation_id, held.quantity)

    return _transition(handler, command, hand_over, command_id=command_id, content=())


def expire_reservation(
    handler: CommandHandler, command: ExpireReservation, *, command_id: str | None = None
) -> int:
    """The hold deadline passed: the reservation expires and its units are released."""

    def release(held: Reservation) -> ReleaseStock:
        return ReleaseStock(held.reservation_id, held.quantity, "expired")

    return _transition(handler, command, release, command_id=command_id, content=())


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
