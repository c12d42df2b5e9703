"""The seed's router variants end to end on moto:

- SQLite store -> SQLite feed -> router -> SQS target -> SQS feed -> router -> target;
- SQLite store -> router -> SNS target -> two SQS queues (filter policies) -> routers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.aws.sns_target import sns_target
from eventfold.adapters.aws.sqs_feed import SqsFeed
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.feeds.sqlite import SqliteFeed
from eventfold.adapters.router_state.sqlite import SqliteRouterState
from eventfold.core.router.ports import BEGINNING, Feed, Subscription, Target
from eventfold.core.router.router import Router
from eventfold.core.router.worker import SubscriptionRunner
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.messaging_support import (
    create_queue,
    happened_codec,
    receive_all,
    subscribe_queue,
)
from tests.eventfold.core.router.targets import SqliteTarget, TrackingSqliteTarget, fill

pytestmark = pytest.mark.aws


def run_until_idle(
    name: str, target: Target, feed: Feed, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    """One subscription's runner, stepped until a poll brings nothing."""
    runner = SubscriptionRunner(
        Subscription(name, target),
        feed,
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        poll_timeout=0.5,
    )
    while runner.step():
        pass


@pytest.mark.parametrize("queue", ["events", "events.fifo"])
def test_store_to_sqs_to_consumer_reaches_every_event_once(
    aws: MotoAws, store: SqliteEventStore, tmp_path: Path, queue: str
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, queue)
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    streams = {f"order-{n}": 1 + n % 4 for n in range(8)}
    fill(store, streams)

    # the event router: store -> SQS
    to_queue = sqs_target(sqs, url, happened_codec())
    run_until_idle("to-queue", to_queue, SqliteFeed(store), store, state)
    # a redelivery upstream (the router's own at-least-once) sends some events twice
    to_queue.apply(store.read_all(0, 5))

    # the consumer: SQS -> its own router -> a query-model-like target
    consumer = TrackingSqliteTarget(tmp_path / "consumer.db")
    run_until_idle("consumer", consumer, SqsFeed(sqs, url, long_poll=1), store, state)

    assert consumer.by_stream() == {s: list(range(1, n + 1)) for s, n in streams.items()}
    assert receive_all(sqs, url) == []  # every message acked


def test_a_poison_stream_on_the_consumer_side_parks_and_the_rest_flows(
    aws: MotoAws, store: SqliteEventStore, tmp_path: Path
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    fill(store, {"order-1": 3, "order-2": 3})
    sqs_target(sqs, url, happened_codec()).apply(store.read_all(0, 100))

    consumer = SqliteTarget(tmp_path / "consumer.db")

    def poison(event: Any) -> None:
        if event.key == "order-2:2":
            raise ValueError("cannot handle this one")

    consumer.faults.append(poison)
    feed = SqsFeed(sqs, url, long_poll=1)
    router = Router(
        Subscription("consumer", consumer),
        store,
        versions=state,
        parking=state,
        sleep=lambda _: None,
    )
    while (batch := feed.poll(BEGINNING, timeout=0.5)).events:
        router.deliver(batch.events)
        feed.ack(batch)
    assert consumer.by_stream() == {"order-1": [1, 2, 3], "order-2": [1]}
    (parked,) = state.list_parked("consumer")
    assert (parked.stream_id, parked.first_version, parked.last_version) == ("order-2", 2, 3)
    assert receive_all(sqs, url) == []  # parked events live in router state, not the queue


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "notification"])
@pytest.mark.parametrize("topic", ["events", "events.fifo"])
def test_sns_fans_out_to_queues_by_filter_policy(
    aws: MotoAws, store: SqliteEventStore, tmp_path: Path, raw: bool, topic: str
) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    fifo = topic.endswith(".fifo")
    attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
    topic_arn = sns.create_topic(Name=topic, Attributes=attributes)["TopicArn"]
    suffix = ".fifo" if fifo else ""
    orders_url = create_queue(sqs, "orders" + suffix)
    everything_url = create_queue(sqs, "everything" + suffix)
    subscribe_queue(sns, sqs, topic_arn, orders_url, raw=raw, policy={"category": ["order"]})
    subscribe_queue(sns, sqs, topic_arn, everything_url, raw=raw, policy=None)

    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    fill(store, {"order-1": 2, "order-2": 1, "invoice-1": 2})
    run_until_idle(
        "to-topic", sns_target(sns, topic_arn, happened_codec()), SqliteFeed(store), store, state
    )

    orders = TrackingSqliteTarget(tmp_path / "orders.db")
    everything = TrackingSqliteTarget(tmp_path / "everything.db")
    run_until_idle("orders", orders, SqsFeed(sqs, orders_url, long_poll=1), store, state)
    run_until_idle(
        "everything", everything, SqsFeed(sqs, everything_url, long_poll=1), store, state
    )

    assert orders.by_stream() == {"order-1": [1, 2], "order-2": [1]}
    assert everything.by_stream() == {"order-1": [1, 2], "order-2": [1], "invoice-1": [1, 2]}


def test_a_queue_consumer_keeps_no_checkpoint_only_versions(
    aws: MotoAws, store: SqliteEventStore, tmp_path: Path
) -> None:
    """A queue feed never moves the checkpoint; the versions recorded make a replay of the
    same events (a redelivery, a restart) a run of duplicates."""
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    fill(store, {"order-1": 2})
    sqs_target(sqs, url, happened_codec()).apply(store.read_all(0, 10))
    consumer = SqliteTarget(tmp_path / "consumer.db")
    run_until_idle("consumer", consumer, SqsFeed(sqs, url, long_poll=1), store, state)
    assert state.checkpoint("consumer") == BEGINNING
    router = Router(Subscription("consumer", consumer), store, versions=state, parking=state)
    assert router.deliver(store.read_all(0, 10)).duplicates == 2
