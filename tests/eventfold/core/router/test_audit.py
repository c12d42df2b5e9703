"""``audit`` finds the streams a subscription missed events of; ``heal`` catches them up."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventfold import DeliveryFailed, EventData, SqliteEventStore, StreamWrite
from eventfold.adapters.aws.router_state import DynamoDBRouterState
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.audit import audit, heal
from eventfold.core.router.ports import EventFilter, RetryPolicy, Subscription
from eventfold.core.router.router import Router
from eventfold.domain.events import RecordedEvent
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.test_dynamodb_store import make_store
from tests.eventfold.core.router.targets import (
    PlanningSqliteTarget,
    SqliteTarget,
    TrackingSqliteTarget,
    fill,
)

TARGETS = [SqliteTarget, TrackingSqliteTarget, PlanningSqliteTarget]


def trimmed(store: SqliteEventStore, lost: set[str]) -> list[RecordedEvent]:
    """Every event, except those the feed lost (their keys): a stream whose LAST events
    were trimmed has nothing left to heal its gap."""
    return [e for e in store.read_all(0, 10_000) if e.key not in lost]


@pytest.mark.parametrize("kind", TARGETS, ids=lambda k: k.__name__)
def test_audit_finds_exactly_the_streams_a_trimmed_feed_left_behind_and_heal_fixes_them(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path, kind: type[SqliteTarget]
) -> None:
    fill(store, {"a-1": 3, "a-2": 2, "a-3": 4, "b-1": 2})
    target = kind(tmp_path / "rows.db")
    subscription = Subscription("rows", target, EventFilter(categories=frozenset({"a"})))
    router = Router(subscription, store, versions=state, parking=state)
    # a-1 lost its last event, a-3 its last two; b-1 lost one too, but "rows" wants no b.
    router.deliver(trimmed(store, {"a-1:3", "a-3:3", "a-3:4", "b-1:2"}))

    behind = audit(subscription, store, versions=state, parking=state)

    assert [(b.stream_id, b.stored, b.applied, b.behind) for b in behind] == [
        ("a-1", 3, 2, 1),
        ("a-3", 4, 2, 2),
    ]
    a3_third = store.read("a-3", 2, limit=1)[0]
    assert behind[1].since == a3_third.recorded_at
    assert not any(b.parked for b in behind)

    report = heal(router, behind)

    assert report.applied == 3
    assert target.by_stream() == {"a-1": [1, 2, 3], "a-2": [1, 2], "a-3": [1, 2, 3, 4]}
    assert audit(subscription, store, versions=state, parking=state) == []


def test_events_the_filter_leaves_out_do_not_count_as_behind(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    fill(store, {"a-1": 2})
    fill(store, {"a-2": 1}, kind="Ignored")
    target = TrackingSqliteTarget(tmp_path / "rows.db")
    wanted = EventFilter(event_types=frozenset({"Happened"}))
    subscription = Subscription("rows", target, wanted)
    Router(subscription, store, versions=state, parking=state).deliver([])

    behind = audit(subscription, store, versions=state, parking=state)

    assert [b.stream_id for b in behind] == ["a-1"]


def test_a_parked_stream_is_listed_as_parked_and_heal_leaves_it_to_redrive(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    fill(store, {"a-1": 2})
    target = TrackingSqliteTarget(tmp_path / "rows.db")

    def refuse(event: RecordedEvent) -> None:
        raise DeliveryFailed("partner said 400", retryable=False)

    target.faults.append(refuse)
    subscription = Subscription("rows", target, retry=RetryPolicy(attempts=1))
    router = Router(subscription, store, versions=state, parking=state)
    router.deliver(store.read("a-1"))

    [item] = audit(subscription, store, versions=state, parking=state)

    assert (item.stream_id, item.behind, item.parked) == ("a-1", 2, True)
    assert heal(router, [item]).applied == 0
    assert state.parked_streams("rows") == {"a-1"}


@pytest.mark.aws
def test_on_dynamodb_the_audit_reads_the_state_table_and_heals(
    aws: MotoAws, tmp_path: Path
) -> None:
    store = make_store(aws, page_size=2, scan_segments=3)  # the scan pages, in parallel
    state = DynamoDBRouterState(store.client, store.tables)
    for stream_id, count in {"a-1": 2, "a-2": 1, "a-3": 3}.items():
        for version in range(1, count + 1):
            data = EventData("Happened", b"{}")
            store.append(StreamWrite(stream_id, version - 1, [data], b"{}", "t/1"))
    store.append(
        StreamWrite("a-4", 0, [EventData("Happened", b"{}")], b"{}", "t/1"), command_id="c"
    )
    target = TrackingSqliteTarget(tmp_path / "rows.db")
    subscription = Subscription("rows", target)
    router = Router(subscription, store, versions=state, parking=state)
    lost = {"a-1:2", "a-3:2", "a-3:3"}
    router.deliver([e for e in store.scan() if e.key not in lost])

    behind = audit(subscription, store, versions=state, parking=state)

    assert [(b.stream_id, b.behind) for b in behind] == [("a-1", 1), ("a-3", 2)]
    heal(router, behind)
    assert audit(subscription, store, versions=state, parking=state) == []
