"""Shared by the read side's judged tests: writing a reservation history through the real
application functions, and reading back (or building from scratch) the real query model."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from eventfold import CommandHandler, EventCodec, RecordedEvent, SqliteEventStore
from eventfold.core.router.router import Router
from eventfold.errors import RuleViolated, StreamNotFound
from eventfold.router import MemoryRouterState
from eventfold.sql import create_engine, sqlite_url
from reservations import app
from reservations.domain.reservation import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    ReservationAccepted,
    SecureStock,
    StockSecured,
)
from reservations.domain.stock import SetStockLevel
from reservations.projection import projection, reservations, stock_levels, subscription, versions

STORE = "s1"
START = datetime(2024, 6, 11, 9, 0, tzinfo=UTC)

ReadModel = dict[str, list[tuple[Any, ...]]]
"""Table name -> its rows, sorted: the whole query model of the reservation service."""


@dataclass
class History:
    """Runs reservation commands against the write model; tracks which reservations are
    still open so that later commands have something to act on."""

    handler: CommandHandler
    now: datetime = START
    open: list[str] = field(default_factory=list)
    secured: list[str] = field(default_factory=list)
    count: int = 0

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def set_stock(self, sku: str, on_hand: int) -> None:
        app.set_stock_level(self.handler, SetStockLevel(STORE, sku, on_hand, self.tick()))

    def request(self, customer: str, sku: str, quantity: int) -> bool:
        """Request a reservation; False when the stock refuses it (or does not exist)."""
        self.count += 1
        rid = f"r{self.count:05d}"
        command = RequestReservation(rid, customer, STORE, sku, quantity, self.tick())
        try:
            app.request_reservation(self.handler, command)
        except (RuleViolated, StreamNotFound):
            return False
        self.open.append(rid)
        return True

    def secure(self, rid: str) -> None:
        app.secure_stock(self.handler, SecureStock(rid, self.tick()))
        self.secured.append(rid)

    def close(self, rid: str, how: str) -> None:
        """End an open reservation: ``pickup`` (secured only), ``cancel``, ``reject`` or
        ``expire``."""
        now = self.tick()
        if how == "pickup":
            app.complete_pickup(self.handler, CompletePickup(rid, now))
        elif how == "cancel":
            cancel = CancelReservation(rid, Canceler.CUSTOMER, "plans changed", now)
            app.cancel_reservation(self.handler, cancel)
        elif how == "reject":
            app.reject_reservation(self.handler, RejectReservation(rid, "damaged", now))
        else:  # the hold deadline of every reservation so far has passed
            app.expire_reservation(self.handler, ExpireReservation(rid, now + HOLD_PERIOD))
        self.open.remove(rid)
        if rid in self.secured:
            self.secured.remove(rid)


def write_workload(store: SqliteEventStore, codec: EventCodec, *, seed: int, events: int) -> None:
    """At least ``events`` events of every type, from the real commands: stock counts,
    requests, secure, pickup, cancel, reject, expire, in a seeded random mix."""
    chance = random.Random(seed)
    skus = [f"sku-{n:02d}" for n in range(40)]
    history = History(app.make_handler(store, codec))
    for sku in skus:
        history.set_stock(sku, 10_000)
    while store.head_position() < events:
        roll = chance.random()
        if roll < 0.40 or len(history.open) < 5:
            customer = f"c-{chance.randrange(500):03d}"
            history.request(customer, chance.choice(skus), chance.randint(1, 3))
        elif roll < 0.62:
            unsecured = [rid for rid in history.open[:20] if rid not in history.secured]
            if unsecured:
                history.secure(chance.choice(unsecured))
        elif roll < 0.76 and history.secured:
            history.close(history.secured[0], "pickup")
        elif roll < 0.86:
            history.close(chance.choice(history.open), "cancel")
        elif roll < 0.93:
            unsecured = [rid for rid in history.open if rid not in history.secured]
            if unsecured:
                history.close(chance.choice(unsecured), "reject")
        elif roll < 0.97:
            history.close(chance.choice(history.open), "expire")
        else:
            history.set_stock(chance.choice(skus), chance.randint(5_000, 10_000))


def all_events(store: SqliteEventStore) -> list[RecordedEvent]:
    """Every event of the store, in commit order."""
    found: list[RecordedEvent] = []
    while batch := store.read_all((found[-1].position or 0) if found else 0, 5000):
        found.extend(batch)
    return found


def expected_mail_keys(events: Sequence[RecordedEvent], codec: EventCodec) -> set[str]:
    """Ledger keys of the e-mails the history calls for: "received" per accepted
    reservation, "ready" per secured one."""
    keys: set[str] = set()
    for event in events:
        decoded = codec.decode(event) if event.stream_id.startswith("reservation-") else None
        if isinstance(decoded, ReservationAccepted):
            keys.add(f"{event.key}/request_received")
        elif isinstance(decoded, StockSecured):
            keys.add(f"{event.key}/ready_for_visit")
    return keys


def read_model(engine: Engine) -> ReadModel:
    """The query model's rows (reservations, stock levels, applied versions), sorted."""
    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)))
            for table in (reservations, stock_levels, versions)
        }


def clean_rebuild(
    store: SqliteEventStore, codec: EventCodec, path: Path, *, batch_size: int = 500
) -> ReadModel:
    """The query model built from scratch in a fresh SQLite file: the real projection,
    every event delivered once, in commit order, through the real router."""
    engine = create_engine(sqlite_url(path))
    try:
        view = projection(engine, codec)
        view.create_tables()
        state = MemoryRouterState()
        router = Router(subscription(view), store, versions=state, parking=state)
        events = all_events(store)
        for start in range(0, len(events), batch_size):
            report = router.deliver(events[start : start + batch_size])
            assert not report.parked, report
        return read_model(engine)
    finally:
        engine.dispose()
