"""The SQS feed on moto: the feed contract (as a queue: acked messages are gone), long
polling, unreadable messages left for the dead-letter queue, and SNS notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from eventfold.adapters.aws.sqs_feed import SqsFeed
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.core.router.ports import BEGINNING
from eventfold.domain.events import RecordedEvent
from tests.aws_support.moto_server import MotoAws
from tests.contracts.feed import FeedContract, Publish, drain
from tests.eventfold.adapters.aws.messaging_support import create_queue, happened_codec

pytestmark = pytest.mark.aws


def happened(stream_id: str, version: int) -> RecordedEvent:
    data = b'{"v":%d}' % version
    return RecordedEvent(stream_id, version, "Happened", data, 1, {}, datetime.now(UTC))


def queue_publisher(aws: MotoAws, url: str) -> Publish:
    target = sqs_target(aws.client("sqs"), url, happened_codec())
    versions: dict[str, int] = {}

    def publish(stream_id: str, count: int) -> None:
        events = []
        for _ in range(count):
            versions[stream_id] = versions.get(stream_id, 0) + 1
            events.append(happened(stream_id, versions[stream_id]))
        target.apply(events)

    return publish


class TestSqsFeedContract(FeedContract):
    replays = False

    @pytest.fixture
    def url(self, aws: MotoAws) -> str:
        return create_queue(aws.client("sqs"), "events")

    @pytest.fixture
    def feed(self, aws: MotoAws, url: str) -> SqsFeed:
        return SqsFeed(aws.client("sqs"), url, long_poll=1)

    @pytest.fixture
    def publish(self, aws: MotoAws, url: str) -> Publish:
        return queue_publisher(aws, url)


class TestFifoSqsFeedContract(TestSqsFeedContract):
    @pytest.fixture
    def url(self, aws: MotoAws) -> str:
        return create_queue(aws.client("sqs"), "events.fifo")


def test_a_batch_not_acked_comes_back_after_its_visibility_timeout(aws: MotoAws) -> None:
    url = create_queue(aws.client("sqs"), "events")
    queue_publisher(aws, url)("order-1", 2)
    feed = SqsFeed(aws.client("sqs"), url, long_poll=1, visibility_timeout=1)
    first = feed.poll(BEGINNING, timeout=1)
    assert [e.key for e in first.events] == ["order-1:1", "order-1:2"]
    assert len(first.receipts) == 2
    assert feed.poll(BEGINNING, timeout=0).events == []  # hidden while in flight
    again = feed.poll(BEGINNING, timeout=3)
    assert sorted(e.key for e in again.events) == ["order-1:1", "order-1:2"]
    feed.ack(again)
    assert feed.lag(BEGINNING).events == 0


def test_limit_is_honoured_past_ten_messages(aws: MotoAws) -> None:
    url = create_queue(aws.client("sqs"), "events")
    publish = queue_publisher(aws, url)
    for n in range(25):
        publish(f"order-{n}", 1)
    feed = SqsFeed(aws.client("sqs"), url, long_poll=1)
    batch = feed.poll(BEGINNING, limit=23, timeout=1)
    assert 10 < len(batch.events) <= 23
    assert len(batch.receipts) == len(batch.events)
    keys, _ = drain(feed)
    assert len(keys) + len(batch.events) == 25


def test_an_unreadable_message_is_left_in_the_queue(aws: MotoAws) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    sqs.send_message(QueueUrl=url, MessageBody="hello, not an event")
    queue_publisher(aws, url)("order-1", 1)
    feed = SqsFeed(sqs, url, long_poll=1, visibility_timeout=1)
    keys, _ = drain(feed)
    assert keys == ["order-1:1"]
    left = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in left] == ["hello, not an event"]


def test_an_sns_notification_is_unwrapped(aws: MotoAws) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    inner = {"stream_id": "order-1", "version": 1, "happened": {"v": 1}}
    attributes: dict[str, Any] = {
        "content_type": "application/json",
        "stream_id": "order-1",
        "version": "1",
        "type": "Happened",
        "schema": "1",
        "recorded_at": "2026-01-01T00:00:00+00:00",
        "metadata": '{"correlation_id":"c-1"}',
    }
    notification = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:events",
        "Message": json.dumps(inner),
        "MessageAttributes": {
            name: {"Type": "Number" if name == "version" else "String", "Value": value}
            for name, value in attributes.items()
        },
    }
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(notification))
    (event,) = SqsFeed(sqs, url, long_poll=1).poll(BEGINNING, timeout=1).events
    assert event.key == "order-1:1"
    assert event.metadata == {"correlation_id": "c-1", "content_type": "application/json"}
    assert event.recorded_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert happened_codec().decode(event) == happened_codec().decode(happened("order-1", 1))


def test_long_poll_must_be_what_sqs_allows(aws: MotoAws) -> None:
    with pytest.raises(ValueError, match="1 to 20"):
        SqsFeed(aws.client("sqs"), "url", long_poll=21)
