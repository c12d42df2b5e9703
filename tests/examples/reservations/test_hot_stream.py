"""16 clients on ONE SKU through one handler: same-stream commands take turns, so none of
them is decided twice (no conflict retried), and the stock stream has no gaps."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from eventfold import CommandHandler, SqliteEventStore
from reservations.app import (
    ATTEMPTS,
    JSON_CODEC,
    request_reservation,
    set_stock_level,
    stock_of,
    stock_stream,
)
from reservations.domain.reservation import RequestReservation
from reservations.domain.stock import SetStockLevel

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
CLIENTS = 16
EACH = 5


def test_16_clients_on_one_sku_take_turns_instead_of_conflicting(tmp_path: Path) -> None:
    """(A turn bound far above the run's length: a loaded CI machine must not make one go
    without its turn, which would allow a conflict.)"""
    store = SqliteEventStore(tmp_path / "events.db", durability="normal")
    handler = CommandHandler(store, JSON_CODEC, attempts=ATTEMPTS, turn_timeout=120)
    set_stock_level(handler, SetStockLevel("s1", "hot", 1000, NOW))
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> list[str]:
        start.wait()
        return [
            request_reservation(
                handler, RequestReservation(f"r{n}-{i}", f"c{n}", "s1", "hot", 1, NOW)
            ).reservation_id
            for i in range(EACH)
        ]

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        placed = [rid for got in pool.map(client, range(CLIENTS)) for rid in got]
    total = CLIENTS * EACH
    assert len(set(placed)) == total
    assert (handler.stats.conflicts_retried, handler.stats.turns_missed) == (0, 0)
    events = store.read(stock_stream("s1", "hot"))
    assert [e.version for e in events] == list(range(1, total + 2))
    final = stock_of(handler, "s1", "hot")
    assert (final.held, final.available) == (total, 1000 - total)
    store.close()
