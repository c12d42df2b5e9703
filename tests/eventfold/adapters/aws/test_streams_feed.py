"""The DynamoDB Streams feed against moto (one shard, like a young table), plus the shard
ordering rules moto cannot show (several shards, parents and children) on plain values."""

from __future__ import annotations

import pytest

from eventfold import ConcurrencyConflict, ConfigurationError
from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.adapters.aws.streams_feed import (
    END,
    DynamoDBStreamsFeed,
    Shard,
    StartAt,
    latest_stream_arn,
    readable_shards,
)
from eventfold.adapters.aws.tables import FeedKind, create_tables
from eventfold.core.router.ports import BEGINNING, Lag
from tests.aws_support.moto_server import MotoAws
from tests.contracts.event_store import event, write
from tests.contracts.feed import FeedContract, Publish, drain

TABLES = TableNames("feed-")


def make_store(aws: MotoAws, feed: FeedKind = "streams") -> DynamoDBEventStore:
    client = dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url)
    kinesis = aws.client("kinesis") if feed == "kinesis" else None
    create_tables(client, TABLES, feed=feed, kinesis=kinesis)
    return DynamoDBEventStore(client, TABLES)


def make_feed(
    aws: MotoAws, store: DynamoDBEventStore, start: StartAt = "TRIM_HORIZON"
) -> DynamoDBStreamsFeed:
    arn = latest_stream_arn(store.client, TABLES.events)
    return DynamoDBStreamsFeed(
        aws.client("dynamodbstreams"), arn, start=start, poll_interval=0.05, shard_refresh=0
    )


def publisher(store: DynamoDBEventStore) -> Publish:
    def publish(stream: str, count: int) -> None:
        snapshot = store.load(stream)
        version = snapshot.version if snapshot else 0
        store.append(write(stream, version, *[event(version + n) for n in range(1, count + 1)]))

    return publish


@pytest.fixture
def store(aws: MotoAws) -> DynamoDBEventStore:
    return make_store(aws)


@pytest.mark.aws
class TestDynamoDBStreamsFeed(FeedContract):
    @pytest.fixture
    def feed(self, aws: MotoAws, store: DynamoDBEventStore) -> DynamoDBStreamsFeed:
        return make_feed(aws, store)

    @pytest.fixture
    def publish(self, store: DynamoDBEventStore) -> Publish:
        return publisher(store)


@pytest.mark.aws
def test_delivered_events_are_the_stored_ones(aws: MotoAws, store: DynamoDBEventStore) -> None:
    feed = make_feed(aws, store)
    store.append(write("order-1", 0, event(1), event(2)))
    batch = feed.poll(BEGINNING, limit=10, timeout=0)
    assert list(batch.events) == store.read("order-1")


@pytest.mark.aws
def test_a_cancelled_transaction_does_not_stall_the_feed(
    aws: MotoAws, store: DynamoDBEventStore
) -> None:
    """moto's shard iterators go dead after any cancelled transaction; the feed takes a
    fresh one AFTER_SEQUENCE_NUMBER on every poll, as real AWS's 15-minute expiry needs."""
    feed = make_feed(aws, store)
    store.append(write("order-1", 0, event(1)))
    _, checkpoint = drain(feed)
    with pytest.raises(ConcurrencyConflict):
        store.append(write("order-1", 0, event(9)))
    store.append(write("order-1", 1, event(2)))
    keys, _ = drain(feed, checkpoint)
    assert keys == ["order-1:2"]


@pytest.mark.aws
def test_latest_skips_what_was_written_before_the_first_poll(
    aws: MotoAws, store: DynamoDBEventStore
) -> None:
    store.append(write("order-1", 0, event(1)))
    feed = make_feed(aws, store, start="LATEST")
    assert list(feed.poll(BEGINNING, limit=10, timeout=0).events) == []
    store.append(write("order-1", 1, event(2)))
    keys, _ = drain(feed)
    assert keys == ["order-1:2"]


@pytest.mark.aws
def test_a_table_without_streams_is_a_configuration_error(aws: MotoAws) -> None:
    store = make_store(aws, feed="kinesis")
    with pytest.raises(ConfigurationError, match="--feed streams"):
        latest_stream_arn(store.client, TABLES.events)


def test_children_wait_until_their_parent_is_read_to_its_end() -> None:
    shards = [Shard("p", None), Shard("c1", "p"), Shard("c2", "p"), Shard("other", None)]
    assert [s.shard_id for s in readable_shards(shards, {})] == ["p", "other"]
    assert [s.shard_id for s in readable_shards(shards, {"p": "123"})] == ["p", "other"]
    reading = {"p": END, "c1": "200"}
    assert [s.shard_id for s in readable_shards(shards, reading)] == ["c1", "c2", "other"]


def test_a_trimmed_parent_no_longer_holds_its_children_back() -> None:
    positions = {"gone": "100", "c": "300"}
    readable = readable_shards([Shard("c", "gone"), Shard("d", "gone")], positions)
    assert [s.shard_id for s in readable] == ["c", "d"]
    assert positions == {"c": "300"}  # the trimmed shard's position is dropped


@pytest.mark.aws
def test_a_foreign_checkpoint_is_refused(aws: MotoAws, store: DynamoDBEventStore) -> None:
    with pytest.raises(ConfigurationError, match="not a DynamoDB Streams feed checkpoint"):
        make_feed(aws, store).poll("42", timeout=0)


@pytest.mark.aws
def test_lag_is_zero_after_a_read_that_drained_the_stream_and_unknown_otherwise(
    aws: MotoAws, store: DynamoDBEventStore
) -> None:
    feed = make_feed(aws, store)
    store.append(write("order-1", 0, event(1), event(2)))
    assert feed.lag(BEGINNING) == Lag(None, None)  # not read yet
    full = feed.poll(BEGINNING, limit=2, timeout=0)  # as many as asked for: maybe more
    assert len(full.events) == 2
    assert feed.lag(full.checkpoint) == Lag(None, None)
    drained = feed.poll(BEGINNING, limit=3, timeout=0)  # fewer than asked for: the end
    assert feed.lag(drained.checkpoint) == Lag(0, 0.0)
