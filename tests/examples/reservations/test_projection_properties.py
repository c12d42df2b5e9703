"""Issue 3's property test: the reservation service's query model (the real SqlProjection
behind the real Router) ends the same whether a history's events arrive in order or
shuffled, duplicated and cut into arbitrary batches."""

from __future__ import annotations

import tempfile
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from eventfold import RecordedEvent, SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.router import Router
from eventfold.errors import RuleViolated, StreamNotFound
from eventfold.sql import create_engine, sqlite_url
from reservations import app
from reservations.projection import projection, subscription
from reservations.published_language import PROTOBUF_CODEC
from tests.examples.reservations.read_model import (
    History,
    ReadModel,
    all_events,
    clean_rebuild,
    read_model,
)

SKUS = ("sku-a", "sku-b", "sku-c")
CLOSINGS = ("pickup", "cancel", "reject", "expire")

Command = tuple[str, int, int]
"""(what, which SKU or open reservation, how many units)."""

commands = st.lists(
    st.tuples(
        st.sampled_from(["request", "secure", *CLOSINGS, "request", "stock"]),
        st.integers(0, 20),
        st.integers(0, 8),
    ),
    min_size=3,
    max_size=30,
)


def record(history: History, command: Command) -> None:
    """Run one command; refusals (out of stock, wrong status) are part of a history too."""
    what, which, units = command
    try:
        if what == "stock":
            history.set_stock(SKUS[which % len(SKUS)], units)
        elif what == "request":
            history.request(f"c-{which % 4}", SKUS[which % len(SKUS)], 1 + units % 3)
        elif history.open and what == "secure":
            history.secure(history.open[which % len(history.open)])
        elif history.open:
            history.close(history.open[which % len(history.open)], what)
    except (RuleViolated, StreamNotFound):
        pass


def deliver(store: SqliteEventStore, folder: Path, batches: list[list[RecordedEvent]]) -> ReadModel:
    """Hand the batches, as they come, to the real projection through the real router."""
    engine = create_engine(sqlite_url(folder / "delivered.db"))
    state = SqliteRouterState(folder / "delivered.db", durability="off")
    try:
        view = projection(engine, PROTOBUF_CODEC)
        view.create_tables()
        router = Router(subscription(view), store, versions=state, parking=state)
        for batch in batches:
            report = router.deliver(batch)
            assert not report.parked, report
        return read_model(engine)
    finally:
        state.close()
        engine.dispose()


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(history=commands, data=st.data())
def test_shuffled_duplicated_batched_delivery_builds_the_in_order_read_model(
    history: list[Command], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory(prefix="reservations-props-") as name:
        folder = Path(name)
        store = SqliteEventStore(folder / "events.db", durability="off")
        try:
            written = History(app.make_handler(store, PROTOBUF_CODEC))
            for sku in SKUS[:2]:  # the third SKU has no stock until a command sets it
                written.set_stock(sku, 6)
                written.request("c-0", sku, 1)
            for command in history:
                record(written, command)
            events = all_events(store)
            event(f"event types: {len({e.type for e in events})}")
            in_order = clean_rebuild(store, PROTOBUF_CODEC, folder / "in_order.db")
            repeated = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
            shuffled = data.draw(st.permutations(events + repeated), label="delivery order")
            cuts = data.draw(st.sets(st.integers(1, len(shuffled)), max_size=8), label="cuts")
            edges = sorted({0, len(shuffled), *cuts})
            batches = [shuffled[a:b] for a, b in pairwise(edges)]
            assert deliver(store, folder, batches) == in_order
        finally:
            store.close()
