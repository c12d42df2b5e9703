"""The router's version rules, retries and parking, with targets writing to SQLite."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import pytest

from eventfold import CodecError, DeliveryFailed, EventData, SqliteEventStore, StreamWrite
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.observer import NullObserver
from eventfold.core.router.ports import EventFilter, RetryPolicy, Subscription
from eventfold.core.router.router import Router
from eventfold.domain.events import CORRELATION_ID, RecordedEvent
from tests.eventfold.core.router.targets import (
    Fault,
    PlanningSqliteTarget,
    SqliteTarget,
    TrackingSqliteTarget,
    fill,
    fill_more,
)


class Seen(NullObserver):
    def __init__(self) -> None:
        self.gaps: list[tuple[str, int, int, int]] = []
        self.parks: list[tuple[str, int, str]] = []
        self.retries: list[tuple[str, int, int]] = []
        self.correlation_ids: list[str | None] = []

    def gap_healed(
        self,
        subscription: str,
        stream_id: str,
        last_applied: int,
        received: int,
        fetched: int,
        *,
        correlation_id: str | None = None,
    ) -> None:
        self.gaps.append((stream_id, last_applied, received, fetched))
        self.correlation_ids.append(correlation_id)

    def parked(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        reason: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        self.parks.append((stream_id, version, reason))
        self.correlation_ids.append(correlation_id)

    def retrying(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        attempt: int,
        error: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        self.retries.append((stream_id, version, attempt))
        self.correlation_ids.append(correlation_id)


def fail_on(stream_id: str, version: int, error: Exception, times: int = 10**9) -> Fault:
    left = [times]

    def fault(event: RecordedEvent) -> None:
        if event.stream_id == stream_id and event.version == version and left[0] > 0:
            left[0] -= 1
            raise error

    return fault


KINDS: dict[str, type[SqliteTarget]] = {
    "plain": SqliteTarget,
    "tracking": TrackingSqliteTarget,
    "planning": PlanningSqliteTarget,
}


@pytest.fixture(params=list(KINDS))
def target(request: pytest.FixtureRequest, tmp_path: Path) -> SqliteTarget:
    return KINDS[request.param](tmp_path / "target.db")


def make_router(
    target: SqliteTarget,
    store: SqliteEventStore,
    state: SqliteRouterState,
    sleeps: list[float] | None = None,
    **subscription: object,
) -> tuple[Router, Seen]:
    seen = Seen()
    delays = sleeps if sleeps is not None else []
    sub = Subscription("rows", target, **subscription)  # type: ignore[arg-type]
    router = Router(
        sub,
        store,
        versions=state,
        parking=state,
        observer=seen,
        sleep=delays.append,
        jitter=lambda: 1.0,
    )
    return router, seen


def events_of(store: SqliteEventStore) -> list[RecordedEvent]:
    return store.read_all(0, 10_000)


def test_events_in_order_are_applied_once(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3, "b-1": 2})
    router, _ = make_router(target, store, state)
    report = router.deliver(events_of(store))
    assert report.applied == 5
    assert target.by_stream() == {"a-1": [1, 2, 3], "b-1": [1, 2]}


def test_duplicates_are_skipped(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    router, _ = make_router(target, store, state)
    events = events_of(store)
    router.deliver(events[:2])
    report = router.deliver(events + events)
    assert report.duplicates == 5
    assert target.by_stream() == {"a-1": [1, 2, 3]}


def test_duplicates_are_skipped_by_a_fresh_router_after_a_restart(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    first, _ = make_router(target, store, state)
    first.deliver(events_of(store))
    second, _ = make_router(target, store, state)
    assert second.deliver(events_of(store)).duplicates == 3
    assert target.by_stream() == {"a-1": [1, 2, 3]}


def test_a_gap_is_healed_from_the_event_store(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 5})
    router, seen = make_router(target, store, state)
    events = events_of(store)
    router.deliver([events[0]])
    report = router.deliver([events[3], events[4]])
    assert target.by_stream() == {"a-1": [1, 2, 3, 4, 5]}
    assert report.healed == 2
    assert seen.gaps == [("a-1", 1, 4, 2)]


def test_a_failure_is_retried_with_growing_backoff_then_succeeds(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    target.faults.append(fail_on("a-1", 2, RuntimeError("flaky"), times=4))  # batch + 3
    sleeps: list[float] = []
    router, seen = make_router(
        target, store, state, sleeps, retry=RetryPolicy(5, base_delay=0.1, max_delay=0.3)
    )
    report = router.deliver(events_of(store))
    assert target.by_stream() == {"a-1": [1, 2, 3]}
    assert report.parked == []
    assert sleeps == [0.1, 0.2, 0.3]
    assert [r[2] for r in seen.retries] == [1, 2, 3]
    assert {r[1] for r in seen.retries} == {2}


def test_a_stream_parks_when_retries_run_out_while_others_flow(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3, "b-1": 3})
    target.faults.append(fail_on("a-1", 2, RuntimeError("boom")))
    router, seen = make_router(target, store, state, retry=RetryPolicy(3))
    report = router.deliver(events_of(store))
    assert target.by_stream() == {"a-1": [1], "b-1": [1, 2, 3]}
    assert report.parked == [("a-1", 2), ("a-1", 3)]
    assert seen.parks == [("a-1", 2, "RuntimeError: boom")]
    [parked] = state.list_parked("rows")
    assert (parked.stream_id, parked.first_version, parked.last_version) == ("a-1", 2, 3)
    assert parked.reason == "RuntimeError: boom"


def test_retries_and_parking_name_the_failing_events_correlation_id(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    """So their log lines lead back to the command (its Idempotency-Key) that caused it."""
    happened = EventData("Happened", b'{"v":1}', metadata={CORRELATION_ID: "cmd-7"})
    store.append(StreamWrite("a-1", 0, [happened], b"{}", "t/1"))
    target.faults.append(fail_on("a-1", 1, RuntimeError("boom")))
    router, seen = make_router(target, store, state, retry=RetryPolicy(2))
    router.deliver(events_of(store))
    assert (len(seen.retries), len(seen.parks)) == (1, 1)
    assert seen.correlation_ids == ["cmd-7", "cmd-7"]


def test_later_events_of_a_parked_stream_wait_in_order(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2})
    target.faults.append(fail_on("a-1", 1, RuntimeError("boom")))
    router, _ = make_router(target, store, state, retry=RetryPolicy(1))
    router.deliver(events_of(store))
    fill_more(store, "a-1", 2, 2)
    fill(store, {"b-1": 1})
    router.deliver(store.read_all(2))
    assert target.by_stream() == {"b-1": [1]}
    assert [e.version for e in state.parked_events("rows", "a-1")] == [1, 2, 3, 4]
    [parked] = state.list_parked()
    assert parked.reason == "RuntimeError: boom"  # the first reason, not WAITING_BEHIND


def test_a_late_duplicate_of_an_applied_event_does_not_join_the_parked_ones(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    """Out of order (a standard queue, async invocations): version 1 comes again after
    version 2 parked the stream; it was applied, so it is a duplicate, not parked."""
    fill(store, {"a-1": 3})
    target.faults.append(fail_on("a-1", 2, RuntimeError("boom")))
    router, _ = make_router(target, store, state, retry=RetryPolicy(1))
    router.deliver(events_of(store)[:2])
    assert target.by_stream() == {"a-1": [1]}
    report = router.deliver(events_of(store)[:1] + events_of(store)[2:])
    assert report.duplicates == 1
    assert [e.version for e in state.parked_events("rows", "a-1")] == [2, 3]


@pytest.mark.parametrize(
    "error",
    [DeliveryFailed("rejected", retryable=False), CodecError("bad payload")],
    ids=["not-retryable", "codec"],
)
def test_permanent_failures_park_at_once(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState, error: Exception
) -> None:
    fill(store, {"a-1": 2, "b-1": 1})
    target.faults.append(fail_on("a-1", 1, error))
    sleeps: list[float] = []
    router, seen = make_router(target, store, state, sleeps)
    router.deliver(events_of(store))
    assert sleeps == []
    assert seen.retries == []
    assert state.parked_streams("rows") == {"a-1"}
    assert seen.parks[0][2] == f"{type(error).__name__}: {error}"
    assert target.by_stream() == {"b-1": [1]}


def test_redrive_applies_the_parked_events_in_order_and_unparks(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3, "b-1": 1})
    fault = fail_on("a-1", 2, DeliveryFailed("down", retryable=False))
    target.faults.append(fault)
    router, _ = make_router(target, store, state)
    router.deliver(events_of(store))
    fill_more(store, "a-1", 3, 1)
    router.deliver(store.read_all(4))
    target.faults.remove(fault)
    report = router.redrive("a-1")
    assert report.applied == 3
    assert target.by_stream() == {"a-1": [1, 2, 3, 4], "b-1": [1]}
    assert state.parked_streams("rows") == set()
    fill_more(store, "a-1", 4, 1)
    router.deliver(store.read_all(5))
    assert target.by_stream()["a-1"] == [1, 2, 3, 4, 5]


def test_a_redrive_that_fails_again_stays_parked(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 2})
    target.faults.append(fail_on("a-1", 2, DeliveryFailed("down", retryable=False)))
    router, _ = make_router(target, store, state)
    router.deliver(events_of(store))
    report = router.redrive("a-1")
    assert report.parked == [("a-1", 2)]
    assert state.parked_streams("rows") == {"a-1"}
    assert [e.version for e in state.parked_events("rows", "a-1")] == [2]


def test_skip_drops_the_parked_events_and_the_stream_flows_again(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    target.faults.append(fail_on("a-1", 2, DeliveryFailed("poison", retryable=False)))
    router, _ = make_router(target, store, state)
    router.deliver(events_of(store))
    assert router.skip("a-1") == 2
    assert state.parked_streams("rows") == set()
    fill_more(store, "a-1", 3, 1)
    later, later_seen = make_router(target, store, state)
    later.deliver(store.read_all(3))
    assert target.by_stream() == {"a-1": [1, 4]}
    assert later_seen.gaps == []


def test_filtered_events_advance_the_version_without_a_gap(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 1}, kind="Wanted")
    fill_more(store, "a-1", 1, 1)  # type Happened: filtered out
    router, seen = make_router(
        target, store, state, filter=EventFilter(event_types=frozenset({"Wanted"}))
    )
    router.deliver(events_of(store))
    fill_more(store, "a-1", 2, 1, kind="Wanted")
    router.deliver(store.read_all(2))
    assert target.by_stream() == {"a-1": [1, 3]}
    assert seen.gaps == []


def test_streams_of_other_categories_are_ignored(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 1, "b-1": 1})
    router, _ = make_router(target, store, state, filter=EventFilter(frozenset({"a"})))
    router.deliver(events_of(store))
    assert target.by_stream() == {"a-1": [1]}
    assert state.applied_versions("rows", ["b-1"]) == {}


def test_a_big_batch_is_applied_in_chunks(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {f"a-{i}": 2 for i in range(10)})
    router, _ = make_router(target, store, state, batch_size=4)
    router.deliver(events_of(store))
    assert target.calls == 5
    assert len(target.rows()) == 20


class NoOutsideReads(PlanningSqliteTarget):
    """Fails the test if the router reads the versions outside the target's transaction."""

    outside_reads = 0

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        self.outside_reads += 1
        return super().applied_versions(stream_ids)


def test_a_planning_target_is_planned_inside_its_one_transaction(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    target = NoOutsideReads(tmp_path / "t.db")
    fill(store, {"a-1": 3, "b-1": 2})
    router, seen = make_router(target, store, state)
    events = events_of(store)
    router.deliver([events[0], *events[2:]])  # a gap in a-1, healed inside the transaction
    router.deliver(events)  # all duplicates
    assert (target.planned_calls, target.calls, target.outside_reads) == (2, 1, 0)
    assert target.by_stream() == {"a-1": [1, 2, 3], "b-1": [1, 2]}
    assert len(seen.gaps) == 1


def test_a_planned_batch_that_fails_parks_only_the_failing_stream(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    target = PlanningSqliteTarget(tmp_path / "t.db")
    target.faults.append(fail_on("b-1", 2, DeliveryFailed("no", retryable=False)))
    fill(store, {"a-1": 3, "b-1": 3, "c-1": 1})
    router, _ = make_router(target, store, state)
    report = router.deliver(events_of(store))
    assert report.parked == [("b-1", 2), ("b-1", 3)]
    assert target.by_stream() == {"a-1": [1, 2, 3], "b-1": [1], "c-1": [1]}
    assert state.parked_streams("rows") == {"b-1"}


def test_a_plan_bigger_than_a_batch_is_applied_in_batches(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    target = PlanningSqliteTarget(tmp_path / "t.db")
    fill(store, {"a-1": 7})
    router, _ = make_router(target, store, state, batch_size=3)
    report = router.deliver(events_of(store)[-1:])  # version 7 only: 1..6 are healed
    assert report.applied == 7
    assert target.calls == 3  # batches of 3, 3, 1 through apply()
    assert target.by_stream() == {"a-1": list(range(1, 8))}


def test_a_planning_target_that_cannot_read_its_versions_fails_the_delivery(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    class Down(PlanningSqliteTarget):
        def apply_planned(
            self,
            stream_ids: Collection[str],
            plan: Callable[[Mapping[str, int]], Sequence[RecordedEvent]],
        ) -> None:
            raise DeliveryFailed("database down")

    fill(store, {"a-1": 1})
    router, _ = make_router(Down(tmp_path / "t.db"), store, state)
    with pytest.raises(DeliveryFailed, match="down"):
        router.deliver(events_of(store))
    assert state.parked_streams("rows") == set()


def test_a_healed_gap_names_the_received_events_correlation_id(
    target: SqliteTarget, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    first = EventData("Happened", b'{"v":1}', metadata={CORRELATION_ID: "cmd-1"})
    second = EventData("Happened", b'{"v":2}', metadata={CORRELATION_ID: "cmd-2"})
    store.append(StreamWrite("a-1", 0, [first], b"{}", "t/1"))
    store.append(StreamWrite("a-1", 1, [second], b"{}", "t/1"))
    router, seen = make_router(target, store, state)
    router.deliver(events_of(store)[1:])  # version 1 never came: read back
    assert seen.gaps == [("a-1", 0, 2, 1)]
    assert seen.correlation_ids == ["cmd-2"]
