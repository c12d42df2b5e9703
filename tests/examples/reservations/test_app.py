"""The application functions on a real SQLite event store: both streams commit together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventfold import (
    CommandHandler,
    IdempotencyKeyReused,
    InvalidCommand,
    Origin,
    RuleViolated,
    SqliteEventStore,
    StreamNotFound,
)
from reservations.app import (
    JSON_CODEC,
    cancel_reservation,
    complete_pickup,
    expire_reservation,
    reject_reservation,
    request_reservation,
    reservation_stream,
    secure_stock,
    set_stock_level,
    stock_of,
    stock_stream,
)
from reservations.domain.reservation import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    SecureStock,
)
from reservations.domain.stock import SetStockLevel, Stock, StockReleased

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
STOCK = stock_stream("s1", "sku1")


def stocked(handler: CommandHandler, on_hand: int = 5) -> None:
    set_stock_level(handler, SetStockLevel("s1", "sku1", on_hand, NOW))


def request(handler: CommandHandler, rid: str, quantity: int = 2, origin: Origin = Origin()) -> int:
    command = RequestReservation(rid, "c1", "s1", "sku1", quantity, NOW)
    return request_reservation(handler, command, origin).version


def stock_state(handler: CommandHandler) -> Stock:
    return stock_of(handler, "s1", "sku1")


def event_types(store: SqliteEventStore, stream_id: str) -> list[str]:
    return [e.type for e in store.read(stream_id)]


def test_a_request_commits_the_reservation_and_the_hold_in_one_append(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    stocked(handler)
    placed = request_reservation(handler, RequestReservation("r1", "c1", "s1", "sku1", 2, NOW))
    assert (placed.reservation_id, placed.version) == ("r1", 1)
    assert event_types(store, reservation_stream("r1")) == ["ReservationAccepted"]
    assert event_types(store, STOCK) == ["StockLevelSet", "StockReserved"]
    committed = store.read_all()
    assert [e.stream_id for e in committed[1:]] == [reservation_stream("r1"), STOCK]
    assert committed[1].recorded_at == committed[2].recorded_at  # one append, one transaction
    assert stock_state(handler).available == 3
    accepted = JSON_CODEC.decode(store.read(reservation_stream("r1"))[0])
    assert getattr(accepted, "hold_until", None) == NOW + HOLD_PERIOD


def test_an_unknown_store_or_sku_is_not_found_and_writes_nothing(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    with pytest.raises(StreamNotFound, match="stock-s1/sku1"):
        request(handler, "r1")
    assert store.read_all() == []


def test_a_refused_hold_writes_nothing(handler: CommandHandler, store: SqliteEventStore) -> None:
    stocked(handler, on_hand=1)
    with pytest.raises(RuleViolated, match="only 1 of sku1 available"):
        request(handler, "r1", quantity=2)
    assert store.load(reservation_stream("r1")) is None
    assert event_types(store, STOCK) == ["StockLevelSet"]


def test_an_invalid_quantity_writes_nothing(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    stocked(handler)
    with pytest.raises(InvalidCommand, match="quantity"):
        request(handler, "r1", quantity=0)
    assert store.load(reservation_stream("r1")) is None


def test_the_full_life_of_a_reservation(handler: CommandHandler, store: SqliteEventStore) -> None:
    stocked(handler)
    request(handler, "r1", quantity=2)
    assert secure_stock(handler, SecureStock("r1", NOW)) == 2
    assert complete_pickup(handler, CompletePickup("r1", NOW)) == 3
    after = stock_state(handler)
    assert (after.on_hand, after.held, after.available) == (3, 0, 3)
    assert event_types(store, STOCK)[-1] == "StockHandedOver"


@pytest.mark.parametrize("how", ["reject", "cancel", "expire"])
def test_every_release_gives_the_units_back(handler: CommandHandler, how: str) -> None:
    stocked(handler, on_hand=2)
    request(handler, "r1", quantity=2)
    assert stock_state(handler).available == 0
    if how == "reject":
        version = reject_reservation(handler, RejectReservation("r1", "damaged", NOW))
    elif how == "cancel":
        command = CancelReservation("r1", Canceler.SUPPORT, "customer called", NOW)
        version = cancel_reservation(handler, command)
    else:
        version = expire_reservation(handler, ExpireReservation("r1", NOW + HOLD_PERIOD))
    assert version == 2
    assert stock_state(handler).available == 2
    request(handler, "r2", quantity=2)  # the released units can be reserved again


def test_a_transition_on_an_unknown_reservation_is_not_found(handler: CommandHandler) -> None:
    with pytest.raises(StreamNotFound, match="reservation-nope"):
        secure_stock(handler, SecureStock("nope", NOW))


def test_a_refused_transition_writes_nothing(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    stocked(handler)
    request(handler, "r1")
    before = store.head_position()
    with pytest.raises(RuleViolated, match="not secured yet"):
        complete_pickup(handler, CompletePickup("r1", NOW))
    with pytest.raises(RuleViolated, match="held until"):
        expire_reservation(handler, ExpireReservation("r1", NOW))
    assert store.head_position() == before


def test_a_cancel_twice_is_refused_and_releases_once(handler: CommandHandler) -> None:
    stocked(handler, on_hand=3)
    request(handler, "r1", quantity=3)
    cancel = CancelReservation("r1", Canceler.CUSTOMER, "changed my mind", NOW)
    cancel_reservation(handler, cancel)
    with pytest.raises(RuleViolated, match="canceled"):
        cancel_reservation(handler, cancel)
    assert stock_state(handler).available == 3


def test_a_reservation_holds_once(handler: CommandHandler, store: SqliteEventStore) -> None:
    """The stock only counts; the reservation decider refuses a second request for the same
    id, so its hold is never counted twice."""
    stocked(handler)
    request(handler, "r1", quantity=2)
    before = store.head_position()
    with pytest.raises(RuleViolated, match="already exists"):
        request(handler, "r1", quantity=1)
    assert store.head_position() == before
    assert stock_state(handler).held == 2


def test_a_release_gives_back_the_quantity_of_its_reservation(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    stocked(handler, on_hand=5)
    request(handler, "r1", quantity=1)
    request(handler, "r2", quantity=3)
    cancel_reservation(handler, CancelReservation("r2", Canceler.STAFF, "broken", NOW))
    assert (stock_state(handler).held, stock_state(handler).available) == (1, 4)
    released = JSON_CODEC.decode(store.read(STOCK)[-1])
    assert released == StockReleased("s1", "sku1", "r2", 3, "canceled by staff: broken")


def test_a_picked_up_reservation_ends_its_hold_once(handler: CommandHandler) -> None:
    stocked(handler, on_hand=5)
    request(handler, "r1", quantity=2)
    secure_stock(handler, SecureStock("r1", NOW))
    complete_pickup(handler, CompletePickup("r1", NOW))
    with pytest.raises(RuleViolated, match="picked_up"):
        complete_pickup(handler, CompletePickup("r1", NOW))
    with pytest.raises(RuleViolated, match="picked_up"):
        cancel_reservation(handler, CancelReservation("r1", Canceler.STAFF, "x", NOW))
    with pytest.raises(RuleViolated, match="picked_up"):
        expire_reservation(handler, ExpireReservation("r1", NOW + HOLD_PERIOD))
    after = stock_state(handler)
    assert (after.on_hand, after.held) == (3, 0)


def test_a_retried_request_returns_the_first_reservation(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    stocked(handler)
    first = request_reservation(
        handler, RequestReservation("r1", "c1", "s1", "sku1", 2, NOW), Origin(command_id="key-1")
    )
    retry = request_reservation(
        handler,
        RequestReservation("r-other", "c1", "s1", "sku1", 2, NOW + timedelta(seconds=3)),
        Origin(command_id="key-1"),
    )
    assert retry == first
    assert store.load(reservation_stream("r-other")) is None
    assert stock_state(handler).held == 2


def test_a_reused_key_with_another_request_is_refused(handler: CommandHandler) -> None:
    stocked(handler)
    request(handler, "r1", quantity=2, origin=Origin(command_id="key-1", request_digest="2 units"))
    with pytest.raises(IdempotencyKeyReused):
        request(
            handler, "r2", quantity=1, origin=Origin(command_id="key-1", request_digest="1 unit")
        )
    assert stock_state(handler).held == 2


def test_a_repeated_stock_level_keeps_the_version(handler: CommandHandler) -> None:
    assert set_stock_level(handler, SetStockLevel("s1", "sku1", 4, NOW)) == 1
    assert set_stock_level(handler, SetStockLevel("s1", "sku1", 4, NOW)) == 1
    assert set_stock_level(handler, SetStockLevel("s1", "sku1", 6, NOW)) == 2
