"""Composing the SQS/SNS variants from setting values (the public eventfold.aws facade)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventfold import ConfigurationError, SqliteEventStore
from eventfold.aws import KinesisFeed, SqsFeed, kinesis_feed, message_target, queue_feed
from eventfold.core.router.ports import BEGINNING
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.messaging_support import (
    create_queue,
    happened_codec,
    subscribe_queue,
)
from tests.eventfold.core.router.targets import fill

pytestmark = pytest.mark.aws


def test_a_queue_url_composes_an_sqs_target_and_its_feed(aws: MotoAws, tmp_path: Path) -> None:
    url = create_queue(aws.client("sqs"), "events")
    target = message_target(url, happened_codec(), endpoint_url=aws.endpoint_url)
    assert (target.name, target.fifo) == ("sqs", False)
    store = SqliteEventStore(tmp_path / "e.db", durability="off")
    fill(store, {"order-1": 2})
    target.apply(store.read_all(0, 10))
    feed = queue_feed(url, long_poll=1, endpoint_url=aws.endpoint_url)
    assert isinstance(feed, SqsFeed)
    assert [e.key for e in feed.poll(BEGINNING, timeout=1).events] == ["order-1:1", "order-1:2"]


def test_a_topic_arn_composes_an_sns_target(aws: MotoAws, tmp_path: Path) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    arn = sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    target = message_target(arn, happened_codec(), format="json", endpoint_url=aws.endpoint_url)
    assert (target.name, target.fifo) == ("sns", True)
    url = create_queue(sqs, "copy.fifo")
    subscribe_queue(sns, sqs, arn, url, raw=True, policy=None)
    store = SqliteEventStore(tmp_path / "e.db", durability="off")
    fill(store, {"order-1": 1})
    target.apply(store.read_all(0, 10))
    feed = queue_feed(url, long_poll=1, endpoint_url=aws.endpoint_url)
    assert [e.key for e in feed.poll(BEGINNING, timeout=1).events] == ["order-1:1"]


@pytest.mark.parametrize("value", ["events", "sqs://events", "arn:aws:sqs:us-east-1:1:q"])
def test_a_destination_that_is_neither_is_refused(value: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"is neither an SNS topic ARN \(.*\) nor an SQS queue URL"
    ):
        message_target(value, happened_codec(), region="us-east-1")


def test_feeds_refuse_what_they_cannot_read() -> None:
    with pytest.raises(ConfigurationError, match="not an SQS queue URL"):
        queue_feed("events", region="us-east-1")
    with pytest.raises(ConfigurationError, match="empty"):
        kinesis_feed(" ", region="us-east-1")
    assert isinstance(kinesis_feed("s", region="us-east-1"), KinesisFeed)
