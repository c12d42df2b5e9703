"""The Kinesis feed on moto: the feed contract, and the seed's Kinesis-for-DynamoDB hazard
(records out of order and twice) made harmless by the router."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.aws.kinesis_feed import KinesisFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import BEGINNING, Subscription
from eventfold.core.router.router import Delivery, Router
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError
from tests.aws_support.moto_server import MotoAws
from tests.contracts.feed import FeedContract, Publish, drain
from tests.eventfold.adapters.aws.change_records import kinesis_change, put_changes
from tests.eventfold.core.router.targets import SqliteTarget, TrackingSqliteTarget, fill

pytestmark = pytest.mark.aws

STREAM = "eventfold-events"


def recorded(stream_id: str, version: int) -> RecordedEvent:
    return RecordedEvent(
        stream_id, version, "Happened", b'{"v":%d}' % version, 1, {"k": "v"}, datetime.now(UTC)
    )


def kinesis_stream(aws: MotoAws, shards: int) -> Any:
    kinesis = aws.client("kinesis")
    kinesis.create_stream(StreamName=STREAM, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM)
    return kinesis


def new_feed(aws: MotoAws, **options: Any) -> KinesisFeed:
    return KinesisFeed(
        aws.client("kinesis"),
        STREAM,
        events_table="eventfold-events",
        poll_interval=0.05,
        **options,
    )


class TestKinesisFeedContract(FeedContract):
    @pytest.fixture
    def feed(self, aws: MotoAws) -> KinesisFeed:
        kinesis_stream(aws, shards=2)
        return new_feed(aws)

    @pytest.fixture
    def publish(self, aws: MotoAws, feed: KinesisFeed) -> Publish:
        versions: dict[str, int] = {}

        def publish(stream_id: str, count: int) -> None:
            changes = []
            for _ in range(count):
                versions[stream_id] = versions.get(stream_id, 0) + 1
                changes.append(kinesis_change(recorded(stream_id, versions[stream_id])))
            put_changes(aws.client("kinesis"), STREAM, changes)

        return publish


def test_records_carry_the_event_item_whole(aws: MotoAws) -> None:
    kinesis = kinesis_stream(aws, shards=1)
    event = recorded("order-7", 1)
    put_changes(kinesis, STREAM, [kinesis_change(event)])
    batch = new_feed(aws).poll(BEGINNING, timeout=2)
    (got,) = batch.events
    assert (got.stream_id, got.version, got.type, got.data, got.schema) == (
        "order-7",
        1,
        "Happened",
        b'{"v":1}',
        1,
    )
    assert got.metadata == {"k": "v"}
    assert got.recorded_at == event.recorded_at
    assert list(json.loads(batch.checkpoint)) == ["shardId-000000000000"]


def test_removals_and_other_tables_are_not_events(aws: MotoAws) -> None:
    kinesis = kinesis_stream(aws, shards=1)
    put_changes(
        kinesis,
        STREAM,
        [
            kinesis_change(recorded("order-1", 1), event_name="REMOVE"),
            kinesis_change(recorded("order-1", 1), table="eventfold-state"),
            kinesis_change(recorded("order-1", 1)),
        ],
    )
    keys, checkpoint = drain(new_feed(aws))
    assert keys == ["order-1:1"]
    assert checkpoint != BEGINNING


def test_a_record_that_is_no_event_item_is_skipped_and_the_router_heals_over_it(
    aws: MotoAws, tmp_path: Path
) -> None:
    store = SqliteEventStore(tmp_path / "events.db", durability="off")
    fill(store, {"order-1": 3})
    kinesis = kinesis_stream(aws, shards=1)
    events = store.read_all(0, 100)
    broken = kinesis_change(events[1])
    del broken["dynamodb"]["NewImage"]["type"]
    put_changes(kinesis, STREAM, [kinesis_change(events[0]), broken, kinesis_change(events[2])])
    keys, _ = drain(new_feed(aws))
    assert keys == ["order-1:1", "order-1:3"]
    target = SqliteTarget(tmp_path / "target.db")
    state = SqliteRouterState(tmp_path / "r.db")
    router = Router(Subscription("rows", target), store, versions=state, parking=state)
    feed = new_feed(aws)
    router.deliver(feed.poll(BEGINNING, timeout=1).events)
    assert target.by_stream() == {"order-1": [1, 2, 3]}


def test_a_new_feed_resumes_after_the_checkpoint_on_every_shard(aws: MotoAws) -> None:
    kinesis = kinesis_stream(aws, shards=3)
    first = [kinesis_change(recorded(f"order-{n}", 1)) for n in range(6)]
    put_changes(kinesis, STREAM, first)
    keys, checkpoint = drain(new_feed(aws), limit=4)
    assert len(keys) == 6
    assert len(json.loads(checkpoint)) == 3
    put_changes(kinesis, STREAM, [kinesis_change(recorded("order-0", 2))])
    again, _ = drain(new_feed(aws), checkpoint)
    assert again == ["order-0:2"]


def test_a_caught_up_reader_lags_zero_seconds(aws: MotoAws) -> None:
    kinesis = kinesis_stream(aws, shards=1)
    put_changes(kinesis, STREAM, [kinesis_change(recorded("order-1", 1))])
    feed = new_feed(aws)
    assert feed.lag(BEGINNING).seconds is None  # not read yet: unknown
    _, checkpoint = drain(feed)
    assert feed.lag(checkpoint).seconds == 0.0
    assert feed.lag(checkpoint).events is None


@pytest.mark.parametrize("text", ["nope", "[]", '{"shard": 1}'])
def test_a_foreign_checkpoint_is_refused(aws: MotoAws, text: str) -> None:
    with pytest.raises(ConfigurationError, match="not a Kinesis feed checkpoint"):
        new_feed(aws).poll(text, timeout=0)


# -- the seed's hazard: out of order and twice ----------------------------------------------
def route_everything(feed: KinesisFeed, router: Router) -> Delivery:
    """Poll and deliver until the feed runs dry; the sum of what the router reported."""
    checkpoint = BEGINNING
    total = Delivery()
    while True:
        batch = feed.poll(checkpoint, limit=7, timeout=0.3)
        if not batch.events:
            return total
        report = router.deliver(batch.events)
        total.applied += report.applied
        total.duplicates += report.duplicates
        total.healed += report.healed
        total.parked += report.parked
        checkpoint = batch.checkpoint


@pytest.mark.parametrize("tracking", [False, True], ids=["router-state", "target-versions"])
def test_shuffled_and_duplicated_records_reach_the_same_state_as_the_ordered_feed(
    aws: MotoAws, store: SqliteEventStore, tmp_path: Path, tracking: bool
) -> None:
    streams = {f"order-{n}": 1 + n % 5 for n in range(12)}
    fill(store, streams)
    events = store.read_all(0, 1000)
    target_type = TrackingSqliteTarget if tracking else SqliteTarget

    ordered = target_type(tmp_path / "ordered.db")
    ordered_state = SqliteRouterState(tmp_path / "ordered-state.db")
    Router(
        Subscription("rows", ordered), store, versions=ordered_state, parking=ordered_state
    ).deliver(events)

    shuffler = random.Random(4)
    changes = [kinesis_change(e) for e in events]
    changes += shuffler.sample(changes, k=len(changes) // 2)  # delivered twice
    shuffler.shuffle(changes)
    kinesis = kinesis_stream(aws, shards=4)
    put_changes(kinesis, STREAM, changes, by="event")

    shuffled = target_type(tmp_path / "shuffled.db")
    shuffled_state = SqliteRouterState(tmp_path / "shuffled-state.db")
    router = Router(
        Subscription("rows", shuffled), store, versions=shuffled_state, parking=shuffled_state
    )
    report = route_everything(new_feed(aws), router)

    assert report.healed > 0  # versions arrived early: the gaps were read from the store
    assert report.duplicates > 0
    assert report.parked == []
    assert shuffled.by_stream() == ordered.by_stream()
    assert ordered.by_stream() == {s: list(range(1, n + 1)) for s, n in streams.items()}
