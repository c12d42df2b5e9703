"""The stock's state is two counters: what was stored before still loads, and the state does
not grow with the number of open holds.

Streams written before the counters (fold "stock/1", whose state listed every hold) are
built here from the stored fixtures (tests/fixtures/reservations/stored_events.json: the
bytes the service stored) with the snapshot row the old code wrote beside them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eventfold import CommandHandler, EventData, RecordedEvent, SqliteEventStore, StreamWrite
from eventfold.domain.codecs import decode_state, encode_state
from reservations.app import (
    cancel_reservation,
    complete_pickup,
    make_handler,
    request_reservation,
    reservation_of,
    reservation_stream,
    secure_stock,
    set_stock_level,
    stock_of,
    stock_stream,
)
from reservations.domain.reservation import (
    Canceler,
    CancelReservation,
    CompletePickup,
    RequestReservation,
    SecureStock,
    Status,
    reservation,
)
from reservations.domain.stock import SetStockLevel, Stock, stock
from reservations.published_language import PROTOBUF_CODEC
from tests.examples.reservations.published_language_samples import load_fixtures

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
STOCK = stock_stream("shibuya", "SKU-123")  # the store and SKU of the stored fixtures
OLD_FOLD = "stock/1"
OLD_SNAPSHOT = (
    b'{"store_id":"shibuya","sku":"SKU-123","on_hand":12,'
    b'"holds":[{"reservation_id":"r-1","quantity":2}],"exists":true}'
)
"""What the code before the counters stored as the state of StockLevelSet(12) +
StockReserved(r-1, 2): byte for byte its ``encode_state``, tagged ``stock/1``."""


def stored(event_type: str) -> EventData:
    """The bytes of the stored fixture of ``event_type`` (schema 1), as they were appended."""
    [fixture] = [f for f in load_fixtures() if (f["type"], f["schema"]) == (event_type, 1)]
    data = base64.b64decode(fixture["data"])
    return EventData(event_type, data, 1, {"content_type": PROTOBUF_CODEC.content_type})


def decoded(event_type: str) -> Any:
    """The fixture of ``event_type`` as the current code reads it."""
    data = stored(event_type)
    return PROTOBUF_CODEC.decode(
        RecordedEvent(STOCK, 1, data.type, data.data, data.schema, data.metadata, NOW)
    )


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    """A store as the old code left it: reservation r-1 (2 units of SKU-123 at shibuya,
    accepted) holding on a stock of 12, the stock's snapshot in the old shape."""
    store = SqliteEventStore(tmp_path / "events.db", durability="off")
    accepted = stored("ReservationAccepted")
    r1 = reservation.fold_events([decoded("ReservationAccepted")])
    store.append(
        StreamWrite(
            reservation_stream("r-1"), 0, [accepted], encode_state(r1), reservation.fold_id
        ),
        StreamWrite(
            STOCK, 0, [stored("StockLevelSet"), stored("StockReserved")], OLD_SNAPSHOT, OLD_FOLD
        ),
    )
    yield store
    store.close()


def test_the_counters_are_a_new_fold() -> None:
    """An old snapshot read as the new state would silently hold nothing: the fold id tells
    the command handler to replay the events instead."""
    assert stock.fold_id != OLD_FOLD
    assert decode_state(Stock, OLD_SNAPSHOT).held == 0  # why the fold must change


@pytest.mark.parametrize(
    ("history", "on_hand", "held"),
    [
        (["StockLevelSet"], 12, 0),
        (["StockLevelSet", "StockReserved"], 12, 2),
        (["StockLevelSet", "StockReserved", "StockReleased"], 12, 0),
        (["StockLevelSet", "StockReserved", "StockHandedOver"], 10, 0),
    ],
)
def test_stored_stock_events_fold_into_the_counters(
    history: list[str], on_hand: int, held: int
) -> None:
    state = stock.fold_events(decoded(t) for t in history)
    assert state == Stock("shibuya", "SKU-123", on_hand, held, exists=True)


def test_an_old_snapshot_is_replayed_from_the_events(old_store: SqliteEventStore) -> None:
    snapshot = old_store.load(STOCK)
    assert snapshot is not None
    assert snapshot.fold == OLD_FOLD
    handler = make_handler(old_store, PROTOBUF_CODEC)

    assert stock_of(handler, "shibuya", "SKU-123") == Stock(
        "shibuya", "SKU-123", on_hand=12, held=2, exists=True
    )


def test_the_first_command_on_an_old_stream_writes_the_counters(
    old_store: SqliteEventStore,
) -> None:
    handler = make_handler(old_store, PROTOBUF_CODEC)
    request = RequestReservation("r-2", "c-8", "shibuya", "SKU-123", 3, NOW)
    assert request_reservation(handler, request).version == 1

    snapshot = old_store.load(STOCK)
    assert snapshot is not None
    assert (snapshot.version, snapshot.fold) == (3, stock.fold_id)
    assert decode_state(Stock, snapshot.state) == Stock("shibuya", "SKU-123", 12, 5, True)


def test_a_reservation_held_under_the_old_code_ends_its_hold(
    old_store: SqliteEventStore,
) -> None:
    """r-1 held its 2 units before the counters: canceling it now gives back exactly 2 (its
    reservation's quantity), and a new handler reading the rows sees the same."""
    handler = make_handler(old_store, PROTOBUF_CODEC)
    request_reservation(handler, RequestReservation("r-2", "c-8", "shibuya", "SKU-123", 3, NOW))
    cancel_reservation(handler, CancelReservation("r-1", Canceler.CUSTOMER, "later", NOW))
    secure_stock(handler, SecureStock("r-2", NOW))
    complete_pickup(handler, CompletePickup("r-2", NOW))

    fresh = make_handler(old_store, PROTOBUF_CODEC)  # no cached state: the rows only
    assert stock_of(fresh, "shibuya", "SKU-123") == Stock("shibuya", "SKU-123", 9, 0, True)
    assert reservation_of(fresh, "r-1").status is Status.CANCELED
    assert [e.type for e in old_store.read(STOCK)][-2:] == ["StockReleased", "StockHandedOver"]


def stock_state_bytes(store: SqliteEventStore) -> int:
    snapshot = store.load(STOCK)
    assert snapshot is not None
    return len(snapshot.state)


def test_the_stock_state_does_not_grow_with_open_holds(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db", durability="off")
    handler: CommandHandler = make_handler(store, PROTOBUF_CODEC)
    set_stock_level(handler, SetStockLevel("shibuya", "SKU-123", 5_000, NOW))
    sizes = {}
    for n in range(1, 1_001):
        request = RequestReservation(f"r-{n}", "c-1", "shibuya", "SKU-123", 1, NOW)
        request_reservation(handler, request)
        if n in (10, 1_000):
            sizes[n] = stock_state_bytes(store)
    store.close()

    # The counters grow by a digit (held 10 -> 1000), the holds are not in the state.
    assert sizes[1_000] - sizes[10] <= 2, sizes
    assert sizes[1_000] < 100, sizes
