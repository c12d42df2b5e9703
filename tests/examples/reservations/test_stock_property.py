"""Property: no sequence of commands makes available stock negative or loses a hold.

A hypothesis state machine drives the application functions on a real SQLite store with
random feeds, requests (also repeated ones, for a reservation id that exists) and
transitions (many of them refused). Each step is at most one append, so checking after
every step checks every version of every stream: ``available = on_hand - held >= 0``, and
``held`` equals the sum of the quantities of the reservations that hold (accepted or
secured), both in the handler's states (snapshots, cache) and in a replay of every event
the store holds.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventfold import (
    InvalidCommand,
    RecordedEvent,
    RuleViolated,
    SqliteEventStore,
    StreamNotFound,
    category_of,
)
from reservations import app
from reservations.domain.reservation import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    SecureStock,
    Status,
    reservation,
)
from reservations.domain.stock import SetStockLevel, Stock, stock

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
SKUS = ("sku1", "sku2")
REFUSALS = (RuleViolated, InvalidCommand, StreamNotFound)


class StockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.store = SqliteEventStore(Path(self.folder.name) / "e.db", durability="off")
        self.handler = app.make_handler(self.store)
        self.ids: list[str] = []

    def teardown(self) -> None:
        self.store.close()
        self.folder.cleanup()

    def attempt(self, run: Callable[[], object]) -> None:
        with contextlib.suppress(*REFUSALS):
            run()

    @rule(sku=st.sampled_from(SKUS), on_hand=st.integers(-1, 6))
    def feed(self, sku: str, on_hand: int) -> None:
        command = SetStockLevel("s1", sku, on_hand, NOW)
        self.attempt(lambda: app.set_stock_level(self.handler, command))

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(0, 4))
    def request(self, sku: str, quantity: int) -> None:
        rid = f"r{len(self.ids)}"
        self.ids.append(rid)
        command = RequestReservation(rid, "c1", "s1", sku, quantity, NOW)
        self.attempt(lambda: app.request_reservation(self.handler, command))

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), sku=st.sampled_from(SKUS), quantity=st.integers(1, 4))
    def request_again(self, data: st.DataObject, sku: str, quantity: int) -> None:
        """A reservation id that exists holds no second time (``already_exists``)."""
        rid = data.draw(st.sampled_from(self.ids))
        command = RequestReservation(rid, "c1", "s1", sku, quantity, NOW)
        self.attempt(lambda: app.request_reservation(self.handler, command))

    @precondition(lambda self: bool(self.ids))
    @rule(
        data=st.data(),
        action=st.sampled_from(["secure", "reject", "cancel", "pickup", "expire", "expire_early"]),
    )
    def transition(self, data: st.DataObject, action: str) -> None:
        rid = data.draw(st.sampled_from(self.ids))
        h = self.handler
        runs = {
            "secure": lambda: app.secure_stock(h, SecureStock(rid, NOW)),
            "reject": lambda: app.reject_reservation(h, RejectReservation(rid, "no", NOW)),
            "cancel": lambda: app.cancel_reservation(
                h, CancelReservation(rid, Canceler.STAFF, "x", NOW)
            ),
            "pickup": lambda: app.complete_pickup(h, CompletePickup(rid, NOW)),
            "expire": lambda: app.expire_reservation(h, ExpireReservation(rid, NOW + HOLD_PERIOD)),
            "expire_early": lambda: app.expire_reservation(
                h, ExpireReservation(rid, NOW + HOLD_PERIOD - timedelta(minutes=1))
            ),
        }
        self.attempt(runs[action])

    @invariant()
    def stock_agrees_with_the_reservations(self) -> None:
        holding = dict.fromkeys(SKUS, 0)
        for rid in self.ids:
            state = app.reservation_of(self.handler, rid)
            if state.status in (Status.ACCEPTED, Status.SECURED):
                holding[state.sku] += state.quantity
        for sku in SKUS:
            stock = app.stock_of(self.handler, "s1", sku)
            assert stock.on_hand >= 0
            assert stock.available == stock.on_hand - stock.held >= 0
            assert stock.held == holding[sku]

    @invariant()
    def a_replay_of_the_store_agrees(self) -> None:
        """The same from the stored events alone (no snapshot, no cache), and at every
        version of each stock stream: never more held than on hand."""
        streams: dict[str, list[RecordedEvent]] = defaultdict(list)
        for recorded in self.store.read_all(limit=1_000_000):
            streams[recorded.stream_id].append(recorded)
        holding: dict[str, int] = defaultdict(int)
        stocks: dict[str, Stock] = {}
        for stream_id, recorded_events in streams.items():
            decoded = [app.JSON_CODEC.decode(e) for e in recorded_events]
            if category_of(stream_id) == reservation.category:
                state = reservation.fold_events(decoded)  # type: ignore[arg-type]
                if state.holds_stock:
                    holding[state.sku] += state.quantity
                continue
            current = stock.initial_state
            for event in decoded:
                current = stock.evolve(current, event)  # type: ignore[arg-type]
                assert 0 <= current.held <= current.on_hand
            stocks[current.sku] = current
        for sku, current in stocks.items():
            assert current.held == holding[sku]
            assert current == app.stock_of(self.handler, "s1", sku)


StockMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
test_stock_invariant = pytest.mark.slow(StockMachine.TestCase)
