"""The seed's router variants end to end on moto, each passing the same scenario (every
event reaches the consumer once, though the router redelivers some; one poison stream parks
only itself):

- SQLite store -> router -> SQS target (standard / FIFO) -> SQS feed -> router -> consumer;
- SQLite store -> router -> Lambda target (asynchronous Invoke) -> the consumer function's
  handler (``router_handlers(...).lambda_invocation``) -> router -> consumer;
- the events table's stream -> EventBridge Pipe -> the Pipe handler -> router -> consumer;
- SQLite store -> router -> Step Functions target: the state machine is the consumer, one
  execution per event;

and SQLite store -> router -> SNS target -> two SQS queues (filter policies) -> routers.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from eventfold import RecordedEvent, SqliteEventStore
from eventfold.adapters.aws.lambda_target import lambda_target
from eventfold.adapters.aws.sns_target import sns_target
from eventfold.adapters.aws.sqs_feed import SqsFeed
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.aws.step_functions_target import execution_name, step_functions_target
from eventfold.adapters.sqlite.feed import SqliteFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import (
    BEGINNING,
    Feed,
    OutagePolicy,
    RetryPolicy,
    Subscription,
    Target,
)
from eventfold.core.router.router import Router
from eventfold.core.router.worker import SubscriptionRunner
from eventfold.entry.aws_lambda import router_handlers
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.invocation_support import (
    PASS_THROUGH,
    create_function,
    create_state_machine,
    recording_lambda_client,
    started_by_stream,
)
from tests.eventfold.adapters.aws.messaging_support import (
    create_queue,
    happened_codec,
    receive_all,
    subscribe_queue,
)
from tests.eventfold.core.router.targets import SqliteTarget, TrackingSqliteTarget, fill
from tests.eventfold.entry.aws_lambda.test_pipe_handler import pipe_dynamodb_records

pytestmark = pytest.mark.aws

NO_WAIT = RetryPolicy(attempts=2, base_delay=0.0)


def run_until_idle(
    name: str,
    target: Target,
    feed: Feed,
    store: SqliteEventStore,
    state: SqliteRouterState,
    retry: RetryPolicy = NO_WAIT,
) -> None:
    """One subscription's runner, stepped until a poll brings nothing."""
    runner = SubscriptionRunner(
        Subscription(name, target, retry=retry),
        feed,
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        poll_timeout=0.5,
        outages=OutagePolicy(park_after=0),  # park once the in-place retries failed
    )
    while runner.step():
        pass


class Variant:
    """One way from the router to a consumer: ``route`` runs the router side until idle,
    ``consume`` the consumer side; ``observed`` is what reached the consumer, per stream."""

    parks = "consumer"
    """The subscription that parks the poison stream."""

    def __init__(self, aws: MotoAws, store: SqliteEventStore, state: SqliteRouterState) -> None:
        self.aws, self.store, self.state = aws, store, state

    def route(self, *, redeliver: bool) -> None:
        raise NotImplementedError

    def consume(self, consumer: Target) -> None:
        raise NotImplementedError

    def poison(self, event: RecordedEvent) -> None:
        """Make ``event`` fail for good at the consumer (here: the consumer's fault)."""

    def observed(self, consumer: SqliteTarget) -> dict[str, list[int]]:
        return consumer.by_stream()

    def run_router(self, name: str, target: Target, *, redeliver: bool) -> None:
        run_until_idle(name, target, SqliteFeed(self.store), self.store, self.state)
        if redeliver:  # the router's own at-least-once: some events go out twice
            target.apply(self.store.read_all(0, 5))


class Queue(Variant):
    fifo = False

    def route(self, *, redeliver: bool) -> None:
        sqs = self.aws.client("sqs")
        self.url = create_queue(sqs, "events.fifo" if self.fifo else "events")
        self.run_router(
            "to-queue", sqs_target(sqs, self.url, happened_codec()), redeliver=redeliver
        )

    def consume(self, consumer: Target) -> None:
        feed = SqsFeed(self.aws.client("sqs"), self.url, long_poll=1)
        run_until_idle("consumer", consumer, feed, self.store, self.state)
        assert receive_all(self.aws.client("sqs"), self.url) == []  # every message acked


class FifoQueue(Queue):
    fifo = True


class LambdaToLambda(Variant):
    def route(self, *, redeliver: bool) -> None:
        function = create_function(self.aws)
        client, self.sent = recording_lambda_client(self.aws)
        self.run_router(
            "to-function", lambda_target(client, function, happened_codec()), redeliver=redeliver
        )

    def consume(self, consumer: Target) -> None:
        handlers = router_handlers(
            [Subscription("consumer", consumer, retry=NO_WAIT)],
            self.store,
            versions=self.state,
            parking=self.state,
        )
        payloads = list(self.sent.payloads)
        random.Random(17).shuffle(payloads)  # Lambda runs async invocations in any order
        for payload in payloads:
            handlers.lambda_invocation(payload, None)


class Pipe(Variant):
    """The Pipe reads the events table's stream itself: no router target on this side."""

    def route(self, *, redeliver: bool) -> None:
        records = pipe_dynamodb_records(self.store.read_all(0, 1000))
        if redeliver:  # a Pipe retries batches: records come again
            records += pipe_dynamodb_records(self.store.read_all(0, 5))
        self.batches = [records[n : n + 4] for n in range(0, len(records), 4)]

    def consume(self, consumer: Target) -> None:
        handlers = router_handlers(
            [Subscription("consumer", consumer, retry=NO_WAIT)],
            self.store,
            versions=self.state,
            parking=self.state,
            events_table="eventfold-events",
        )
        for batch in self.batches:
            assert handlers.pipe(batch, None) == {"batchItemFailures": []}


class StepFunctions(Variant):
    """The state machine is the consumer: what reached it is the executions started."""

    parks = "to-machine"

    def __init__(self, aws: MotoAws, store: SqliteEventStore, state: SqliteRouterState) -> None:
        super().__init__(aws, store, state)
        self.machine = create_state_machine(aws, PASS_THROUGH)

    def route(self, *, redeliver: bool) -> None:
        sfn = self.aws.client("stepfunctions")
        target = step_functions_target(sfn, self.machine, happened_codec())
        run_until_idle(
            "to-machine", target, SqliteFeed(self.store), self.store, self.state, NO_WAIT
        )
        if redeliver:
            target.apply(self.store.read_all(0, 5))

    def consume(self, consumer: Target) -> None:
        """Nothing to run: Step Functions runs the executions."""

    def poison(self, event: RecordedEvent) -> None:
        """Its execution name is taken, with another input: the target cannot start it."""
        self.aws.client("stepfunctions").start_execution(
            stateMachineArn=self.machine, name=execution_name(event), input="{}"
        )

    def observed(self, consumer: SqliteTarget) -> dict[str, list[int]]:
        return started_by_stream(self.aws, self.machine)


VARIANTS = {
    "sqs": Queue,
    "sqs-fifo": FifoQueue,
    "lambda": LambdaToLambda,
    "pipes": Pipe,
    "step-functions": StepFunctions,
}


@pytest.fixture(params=list(VARIANTS))
def variant(
    request: pytest.FixtureRequest, aws: MotoAws, store: SqliteEventStore, tmp_path: Path
) -> Variant:
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    return VARIANTS[request.param](aws, store, state)


def test_every_event_reaches_the_consumer_once(
    variant: Variant, store: SqliteEventStore, tmp_path: Path
) -> None:
    streams = {f"order-{n}": 1 + n % 4 for n in range(8)}
    fill(store, streams)
    variant.route(redeliver=True)
    consumer = TrackingSqliteTarget(tmp_path / "consumer.db")
    variant.consume(consumer)
    assert variant.observed(consumer) == {s: list(range(1, n + 1)) for s, n in streams.items()}


def test_a_poison_stream_parks_only_itself_and_the_rest_flows(
    variant: Variant, store: SqliteEventStore, tmp_path: Path
) -> None:
    fill(store, {"order-1": 3, "order-2": 3})
    poisoned = store.read("order-2", after_version=1, limit=1)[0]
    variant.poison(poisoned)
    consumer = SqliteTarget(tmp_path / "consumer.db")

    def poison(event: Any) -> None:
        if event.key == poisoned.key:
            raise ValueError("cannot handle this one")

    consumer.faults.append(poison)
    variant.route(redeliver=False)
    variant.consume(consumer)
    assert variant.observed(consumer) == {"order-1": [1, 2, 3], "order-2": [1]}
    (parked,) = variant.state.list_parked(variant.parks)
    assert (parked.stream_id, parked.first_version, parked.last_version) == ("order-2", 2, 3)


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
