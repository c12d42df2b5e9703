"""Whatever order and repetition a feed delivers in, the target ends in the in-order state."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.core.router.router import Router
from tests.eventfold.core.router.targets import (
    PlanningSqliteTarget,
    SqliteTarget,
    TrackingSqliteTarget,
    fill,
)

STREAMS = {"a-1": 6, "a-2": 3, "b-1": 5}


@pytest.fixture(scope="module")
def filled_store() -> SqliteEventStore:
    folder = Path(tempfile.mkdtemp(prefix="router-props-"))
    store = SqliteEventStore(folder / "events.db", durability="off")
    fill(store, STREAMS)
    return store


@pytest.mark.slow
@pytest.mark.parametrize("kind", [SqliteTarget, TrackingSqliteTarget, PlanningSqliteTarget])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_shuffled_and_duplicated_delivery_yields_the_in_order_state(
    filled_store: SqliteEventStore, kind: type[SqliteTarget], data: st.DataObject
) -> None:
    events = filled_store.read_all(0, 1000)
    delivered = data.draw(
        st.lists(st.sampled_from(events), min_size=0, max_size=40).flatmap(
            lambda extra: st.permutations(events + extra)
        ),
        label="delivery order",
    )
    cuts = sorted(data.draw(st.sets(st.integers(1, len(delivered) - 1), max_size=6)))
    batches = [delivered[a:b] for a, b in zip([0, *cuts], [*cuts, len(delivered)], strict=True)]
    with tempfile.TemporaryDirectory() as folder:
        target = kind(Path(folder) / "target.db")
        state = SqliteRouterState(Path(folder) / "state.db", durability="off")
        router = Router(Subscription("rows", target), filled_store, versions=state, parking=state)
        for batch in batches:
            router.deliver(batch)
        state.close()
        assert target.by_stream() == {s: list(range(1, n + 1)) for s, n in STREAMS.items()}
