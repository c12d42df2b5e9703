"""Property: no sequence of commands makes available stock negative or loses a hold.

A hypothesis state machine drives the application functions on a real SQLite store with
random feeds, requests and transitions (most of them refused); after every step the stock
agrees with the reservations that hold it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventfold import InvalidCommand, RuleViolated, SqliteEventStore, StreamNotFound
from reservations import app
from reservations.domain import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    SecureStock,
    SetStockLevel,
    Status,
)

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
        holding: dict[str, dict[str, int]] = {sku: {} for sku in SKUS}
        for rid in self.ids:
            state = app.reservation_of(self.handler, rid)
            if state.status in (Status.ACCEPTED, Status.SECURED):
                holding[state.sku][rid] = state.quantity
        for sku in SKUS:
            stock = app.stock_of(self.handler, "s1", sku)
            assert stock.available >= 0
            assert stock.on_hand >= 0
            assert {h.reservation_id: h.quantity for h in stock.holds} == holding[sku]


StockMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
test_stock_invariant = pytest.mark.slow(StockMachine.TestCase)
