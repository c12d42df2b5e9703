"""THE stock invariant under concurrency: 50 customers race for 20 units of one SKU.

Every request runs in its own thread against one SQLite file (synchronous=FULL, as
deployed). Exactly 20 are accepted, the other 30 are refused with a 409-class error, the
stock ends at 0 available and its stream has no version gaps.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from eventfold import ConcurrencyConflict, Origin, RuleViolated, SqliteEventStore
from reservations.app import (
    JSON_CODEC,
    cancel_reservation,
    expire_reservation,
    make_handler,
    request_reservation,
    reservation_stream,
    set_stock_level,
    stock_of,
    stock_stream,
)
from reservations.domain.reservation import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    ExpireReservation,
    RequestReservation,
)
from reservations.domain.stock import SetStockLevel, StockReserved

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
STOCK_UNITS = 20
CUSTOMERS = 50


def test_50_concurrent_requests_for_20_units_accept_exactly_20(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db")  # durability "full", the default
    handler = make_handler(store)
    set_stock_level(handler, SetStockLevel("s1", "sku1", STOCK_UNITS, NOW))
    start = threading.Barrier(CUSTOMERS)

    def customer(n: int) -> str | Exception:
        command = RequestReservation(f"r{n:02}", f"c{n:02}", "s1", "sku1", 1, NOW)
        start.wait()
        try:
            return request_reservation(
                handler, command, Origin(command_id=f"key-{n}")
            ).reservation_id
        except (RuleViolated, ConcurrencyConflict) as refused:
            return refused

    with ThreadPoolExecutor(max_workers=CUSTOMERS) as pool:
        results = list(pool.map(customer, range(CUSTOMERS)))
    accepted = sorted(r for r in results if isinstance(r, str))
    refused = [r for r in results if isinstance(r, Exception)]

    assert len(accepted) == STOCK_UNITS
    assert len(refused) == CUSTOMERS - STOCK_UNITS
    for error in refused:
        assert isinstance(error, RuleViolated), error
        assert error.code == "out_of_stock"
        assert "only 0 of sku1 available" in str(error)

    events = store.read(stock_stream("s1", "sku1"))
    assert [e.version for e in events] == list(range(1, STOCK_UNITS + 2))  # no gaps
    final = stock_of(handler, "s1", "sku1")
    assert (final.on_hand, final.held, final.available) == (STOCK_UNITS, STOCK_UNITS, 0)
    decoded = [JSON_CODEC.decode(e) for e in events]
    holders = [e.reservation_id for e in decoded if isinstance(e, StockReserved)]
    assert sorted(holders) == accepted
    for rid in accepted:
        assert [e.type for e in store.read(reservation_stream(rid))] == ["ReservationAccepted"]
    refused_ids = {f"r{n:02}" for n in range(CUSTOMERS)} - set(accepted)
    assert all(store.load(reservation_stream(rid)) is None for rid in refused_ids)
    store.close()


def test_racing_ends_of_one_reservation_release_its_units_once(tmp_path: Path) -> None:
    """The stock keeps counters, not holds: what stops a second release is the reservation
    stream. Cancels and expiries of one reservation race; exactly one ends it."""
    store = SqliteEventStore(tmp_path / "events.db")
    handler = make_handler(store)
    set_stock_level(handler, SetStockLevel("s1", "sku1", 5, NOW))
    request_reservation(handler, RequestReservation("r1", "c1", "s1", "sku1", 3, NOW))
    racers = 8
    start = threading.Barrier(racers)

    def end(n: int) -> int | Exception:
        start.wait()
        try:
            if n % 2:
                command = CancelReservation("r1", Canceler.CUSTOMER, f"try {n}", NOW)
                return cancel_reservation(handler, command)
            return expire_reservation(handler, ExpireReservation("r1", NOW + HOLD_PERIOD))
        except (RuleViolated, ConcurrencyConflict) as refused:
            return refused

    with ThreadPoolExecutor(max_workers=racers) as pool:
        results = list(pool.map(end, range(racers)))

    assert [r for r in results if not isinstance(r, Exception)] == [2]
    for refused in (r for r in results if isinstance(r, Exception)):
        assert isinstance(refused, RuleViolated), refused
        assert refused.code == "invalid_transition"
    final = stock_of(handler, "s1", "sku1")
    assert (final.on_hand, final.held, final.available) == (5, 0, 5)
    types = [e.type for e in store.read(stock_stream("s1", "sku1"))]
    assert types == ["StockLevelSet", "StockReserved", "StockReleased"]
    store.close()
