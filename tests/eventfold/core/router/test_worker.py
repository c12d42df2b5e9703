"""Runners: checkpoints move only past work that is done; subscriptions are independent."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.feed import SqliteFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import EventFilter, OutagePolicy, RetryPolicy, Subscription
from eventfold.core.router.router import Stopping
from eventfold.core.router.worker import SubscriptionRunner, Worker
from eventfold.domain.events import RecordedEvent
from tests.eventfold.core.router.targets import SqliteTarget, fill, fill_more
from tests.waiting import eventually


class GatedTarget(SqliteTarget):
    """Blocks every apply until the gate opens (a slow consumer)."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path, name)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        self.entered.set()
        self.gate.wait()
        super().apply(events)


class Partner:
    """Fails the events of the streams in ``down`` (the partner is unreachable for them)."""

    def __init__(self, down: set[str]) -> None:
        self.down = down

    def __call__(self, event: RecordedEvent) -> None:
        if event.stream_id in self.down:
            raise RuntimeError("partner unreachable")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def outage_runner(
    target: SqliteTarget,
    store: SqliteEventStore,
    state: SqliteRouterState,
    clock: Clock,
    **policy: float,
) -> SubscriptionRunner:
    return SubscriptionRunner(
        Subscription("rows", target),
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        checkpoint_every=0.0,
        outages=OutagePolicy(**{"first_delay": 1.0, "max_delay": 1.0, **policy}),
        clock=clock,
    )


def test_a_failing_stream_is_set_aside_without_holding_up_others_nor_the_checkpoint_past_it(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2, "b-1": 1})  # positions: a-1:1, b-1:1, a-1:2
    target = SqliteTarget(tmp_path / "t.db")
    partner = Partner({"a-1"})
    target.faults.append(partner)
    clock = Clock()
    runner = outage_runner(target, store, state, clock, park_after=60)

    assert runner.step(timeout=0) == 3
    assert target.by_stream() == {"b-1": [1]}  # b-1 flowed; nothing slept
    assert state.parked_streams("rows") == set()
    assert state.checkpoint("rows") == ""  # a crash now replays a-1's events
    fill_more(store, "a-1", 2, 1)
    assert runner.step(timeout=0) == 1  # a-1:3 waits behind the others, not yet due
    assert target.by_stream() == {"b-1": [1]}
    assert state.checkpoint("rows") == ""

    partner.down.clear()  # the partner is back
    clock.now = 5.0
    runner.step(timeout=0)

    assert target.by_stream() == {"b-1": [1], "a-1": [1, 2, 3]}
    assert state.checkpoint("rows") == "4"
    assert state.parked_streams("rows") == set()


def test_a_stream_parks_once_the_outage_outlasts_the_window_then_is_redriven_on_schedule(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2, "b-1": 1})
    target = SqliteTarget(tmp_path / "t.db")
    partner = Partner({"a-1"})
    target.faults.append(partner)
    clock = Clock()
    runner = outage_runner(target, store, state, clock, park_after=10, retry_parked_every=100)

    runner.step(timeout=0)
    clock.now = 5.0
    runner.step(timeout=0)  # retried, failed again: still set aside
    assert state.parked_streams("rows") == set()
    clock.now = 11.0
    runner.step(timeout=0)  # the window has passed: parked, the checkpoint moves on
    assert state.parked_streams("rows") == {"a-1"}
    assert state.checkpoint("rows") == "3"

    clock.now = 50.0
    runner.step(timeout=0)  # not yet time to retry the parked ones
    assert state.parked_streams("rows") == {"a-1"}
    partner.down.clear()
    clock.now = 101.0
    runner.step(timeout=0)
    assert state.parked_streams("rows") == set()
    assert target.by_stream() == {"b-1": [1], "a-1": [1, 2]}


def test_a_stop_interrupts_an_in_place_retry_and_abandons_the_batch(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    target = SqliteTarget(tmp_path / "t.db")
    target.faults.append(lambda e: (_ for _ in ()).throw(RuntimeError("down")))
    feed = SqliteFeed(store)
    stop = threading.Event()
    runner = SubscriptionRunner(
        Subscription("rows", target, retry=RetryPolicy(3, base_delay=10)),
        feed,
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        stop=stop,
        outages=OutagePolicy(park_after=0, retry_parked_every=1),
    )
    runner.step(timeout=0)
    assert state.parked_streams("rows") == {"a-1"}
    stop.set()  # the parked stream's redrive retries in place: its backoff is interrupted
    with pytest.raises(Stopping):
        runner.router.redrive("a-1")
    target.faults.clear()
    stop.clear()
    runner.router.redrive("a-1")
    assert target.by_stream() == {"a-1": [1, 2, 3]}


def test_parked_events_count_as_done(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2, "b-1": 1})
    target = SqliteTarget(tmp_path / "t.db")
    target.faults.append(
        lambda e: (_ for _ in ()).throw(RuntimeError("x")) if e.stream_id == "a-1" else None
    )
    runner = SubscriptionRunner(
        Subscription("rows", target),
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        outages=OutagePolicy(park_after=0),
    )
    runner.step(timeout=0)
    assert state.checkpoint("rows") == "3"
    assert state.parked_streams("rows") == {"a-1"}


def test_a_moved_checkpoint_is_reloaded(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2})
    target = SqliteTarget(tmp_path / "t.db")
    runner = SubscriptionRunner(
        Subscription("rows", target),
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        checkpoint_every=0.0,
    )
    state.reset("rows", "1")
    runner.step(timeout=0)  # polled from "" but the checkpoint moved: nothing recorded past it
    assert runner.checkpoint == "1"
    runner.step(timeout=0)  # only version 2 again, already applied (checkpoint_every=0)
    assert state.checkpoint("rows") == "2"
    assert target.by_stream() == {"a-1": [1, 2]}


def test_a_batch_the_filter_skips_saves_its_checkpoint_later(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2, "b-1": 1})
    target = SqliteTarget(tmp_path / "t.db")
    only_b = Subscription("rows", target, EventFilter(categories=frozenset({"b"})))
    runner = SubscriptionRunner(
        only_b,
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        checkpoint_every=3600,
        lag_every=3600,
    )
    assert runner.step(timeout=0) == 3  # b-1 applied: the checkpoint is saved at once
    assert state.checkpoint("rows") == "3"
    fill(store, {"a-2": 1})
    assert runner.step(timeout=0) == 1  # nothing for the target: saved later
    assert (runner.checkpoint, state.checkpoint("rows")) == ("4", "3")
    runner.stop_event.set()
    runner.run()  # stopping keeps the held-back checkpoint
    assert state.checkpoint("rows") == "4"
    assert target.by_stream() == {"b-1": [1]}


def test_an_idle_runner_notices_a_moved_checkpoint(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2})
    target = SqliteTarget(tmp_path / "t.db")
    runner = SubscriptionRunner(
        Subscription("rows", target),
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        lag_every=0.0,
    )
    assert runner.step(timeout=0) == 2
    assert runner.step(timeout=0) == 0  # caught up, idle
    state.reset("rows", "")  # a rebuild hands over from the beginning
    assert runner.step(timeout=0) == 0  # still idle: no event arrived, yet it looked
    assert runner.checkpoint == ""
    assert runner.step(timeout=0) == 2  # delivered again; the versions make it harmless
    assert target.by_stream() == {"a-1": [1, 2]}


def worker_on(
    store: SqliteEventStore,
    state: SqliteRouterState,
    subscriptions: Sequence[Subscription],
    **options: Any,
) -> Worker:
    """A worker over ``store``'s feed, keeping checkpoints, versions and parked streams in
    ``state``."""
    return Worker(
        subscriptions,
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        **options,
    )


@pytest.mark.parametrize("turn_wait", [0.0, 0.05], ids=["all at once", "taking turns"])
def test_a_slow_subscription_does_not_delay_another(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState, turn_wait: float
) -> None:
    # Taking turns, the slow one holds the turn for ever: the fast one delivers each batch
    # after waiting turn_wait for it.
    fill(store, {f"a-{i}": 5 for i in range(20)})
    slow = GatedTarget(tmp_path / "slow.db", "slow")
    fast = SqliteTarget(tmp_path / "fast.db", "fast")
    worker = worker_on(
        store,
        state,
        [Subscription("slow", slow, batch_size=10), Subscription("fast", fast, batch_size=10)],
        poll_timeout=0.05,
        turn_wait=turn_wait,
    )
    worker.start()
    try:
        eventually("the fast subscription applies everything", lambda: len(fast.rows()) == 100)
        assert slow.entered.is_set()
        assert slow.rows() == []
        eventually("the fast checkpoint advances", lambda: state.checkpoint("fast") == "100")
        assert state.checkpoint("slow") == ""
        fill(store, {"b-1": 1})
        eventually("a new commit wakes the fast subscription", lambda: len(fast.rows()) == 101)
        slow.gate.set()
        eventually("the slow one catches up once released", lambda: len(slow.rows()) == 101)
    finally:
        slow.gate.set()
        worker.stop()
    assert not worker.running


class Overlaps:
    """How many targets sharing it are inside ``apply`` at once, and the most seen."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.lock = threading.Lock()


class WatchedTarget(SqliteTarget):
    """Counts itself in ``overlaps`` while it applies a batch, which takes a while."""

    def __init__(self, path: Path, name: str, overlaps: Overlaps) -> None:
        super().__init__(path, name)
        self.overlaps = overlaps

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        seen = self.overlaps
        with seen.lock:
            seen.inside += 1
            seen.most = max(seen.most, seen.inside)
        try:
            time.sleep(0.005)  # gives the GIL away, as SQLite and sockets do
            super().apply(events)
        finally:
            with seen.lock:
                seen.inside -= 1


def test_with_a_turn_the_subscriptions_deliver_one_batch_at_a_time(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {f"a-{i}": 3 for i in range(20)})
    overlaps = Overlaps()
    targets = [WatchedTarget(tmp_path / f"{n}.db", n, overlaps) for n in ("one", "two", "three")]
    worker = worker_on(
        store,
        state,
        [Subscription(t.name, t, batch_size=5) for t in targets],
        poll_timeout=0.05,
        turn_wait=30,
    )
    worker.start()
    try:
        eventually("each applies everything", lambda: all(len(t.rows()) == 60 for t in targets))
    finally:
        worker.stop()
    assert overlaps.most == 1


def test_subscription_names_must_be_unique(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    target = SqliteTarget(tmp_path / "t.db")
    with pytest.raises(ValueError, match="unique: rows"):
        worker_on(store, state, [Subscription("rows", target)] * 2)


def test_stop_returns_promptly_while_runners_wait_for_events(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    worker = worker_on(
        store,
        state,
        [Subscription("rows", SqliteTarget(tmp_path / "t.db"))],
        poll_timeout=3600,
    )
    worker.start()
    worker.stop(timeout=30)
    assert not worker.running


def test_a_busy_subscription_lingers_after_a_small_batch_but_not_after_a_full_one(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    target = SqliteTarget(tmp_path / "t.db")
    stop = threading.Event()
    runner = SubscriptionRunner(
        Subscription("rows", target, batch_size=2),
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        stop=stop,
        linger=3600,
    )
    assert runner.step(timeout=0) == 2  # a full batch: the next poll follows at once
    stepped: list[int | str] = []

    def step_once() -> None:
        try:
            stepped.append(runner.step(timeout=0))
        except Stopping:
            stepped.append("stopped")

    small = threading.Thread(target=step_once)
    small.start()
    eventually("all three applied", lambda: target.by_stream() == {"a-1": [1, 2, 3]})
    small.join(0.2)
    assert small.is_alive()  # delivered, and now waiting for more
    assert stepped == []
    assert state.checkpoint("rows") == "3"  # the work done is recorded before the wait
    stop.set()  # a stop ends the wait at once
    small.join(10)
    assert not small.is_alive()
    assert stepped == ["stopped"]
