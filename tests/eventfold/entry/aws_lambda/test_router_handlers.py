"""The router's Lambda handlers, called with the documented AWS event shapes against a
SQLite event store and SQLite router state (and moto for the SQS messages)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import RetryPolicy, Subscription
from eventfold.domain.events import RecordedEvent
from eventfold.entry.aws_lambda import RouterHandlers, router_handlers
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.change_records import (
    dynamodb_stream_event,
    kinesis_change,
    kinesis_event,
)
from tests.eventfold.adapters.aws.messaging_support import create_queue, happened_codec
from tests.eventfold.core.router.targets import SqliteTarget, TrackingSqliteTarget, fill

RETRY_ONCE = RetryPolicy(attempts=2, base_delay=0.0)


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the part the handlers use)."""

    remaining_ms: int = 300_000
    function_name: str = "router"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def state(tmp_path: Path) -> SqliteRouterState:
    return SqliteRouterState(tmp_path / "router.db", durability="off")


@pytest.fixture
def targets(tmp_path: Path) -> tuple[TrackingSqliteTarget, SqliteTarget]:
    return TrackingSqliteTarget(tmp_path / "view.db", "view"), SqliteTarget(tmp_path / "mail.db")


def handlers_for(
    targets: tuple[TrackingSqliteTarget, SqliteTarget],
    store: SqliteEventStore,
    state: SqliteRouterState,
) -> RouterHandlers:
    view, mail = targets
    subscriptions = [Subscription("view", view), Subscription("mail", mail, retry=RETRY_ONCE)]
    return router_handlers(
        subscriptions, store, versions=state, parking=state, events_table="eventfold-events"
    )


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_a_dynamodb_stream_batch_reaches_every_subscription(
    store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    fill(store, {"order-1": 3, "order-2": 2})
    handlers = handlers_for(targets, store, state)
    event = dynamodb_stream_event(store.read_all(0, 100))
    assert handlers.dynamodb_stream(event, LambdaContext()) == {"batchItemFailures": []}
    view, mail = targets
    assert view.by_stream() == mail.by_stream() == {"order-1": [1, 2, 3], "order-2": [1, 2]}
    # Lambda retries a whole batch after a crash: every record is a duplicate now
    assert failures(handlers.dynamodb_stream(event, LambdaContext())) == []
    assert mail.by_stream() == {"order-1": [1, 2, 3], "order-2": [1, 2]}


def test_other_tables_and_removals_are_done_at_once(
    store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    fill(store, {"order-1": 1})
    handlers = handlers_for(targets, store, state)
    (recorded,) = store.read_all(0, 10)
    event = dynamodb_stream_event([recorded], table="eventfold-state")
    assert failures(handlers.dynamodb_stream(event, LambdaContext())) == []
    assert targets[0].rows() == []


def test_shuffled_duplicated_kinesis_batches_reach_the_ordered_state(
    store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    streams = {f"order-{n}": 1 + n % 4 for n in range(10)}
    fill(store, streams)
    changes = [kinesis_change(e) for e in store.read_all(0, 1000)]
    shuffler = random.Random(7)
    changes += shuffler.sample(changes, k=10)
    shuffler.shuffle(changes)
    handlers = handlers_for(targets, store, state)
    for start in range(0, len(changes), 6):  # Lambda's batch size 6
        response = handlers.kinesis(kinesis_event(changes[start : start + 6]), LambdaContext())
        assert failures(response) == []
    expected = {s: list(range(1, n + 1)) for s, n in streams.items()}
    view, mail = targets
    assert view.by_stream() == expected
    assert mail.by_stream() == expected


def test_a_poison_stream_parks_and_does_not_block_the_shard(
    store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    fill(store, {"order-1": 3, "order-2": 3})
    view, mail = targets

    def poison(event: RecordedEvent) -> None:
        if event.key == "order-1:2":
            raise ValueError("the mail server refuses this address")

    mail.faults.append(poison)
    handlers = handlers_for(targets, store, state)
    event = kinesis_event([kinesis_change(e) for e in store.read_all(0, 100)])
    assert failures(handlers.kinesis(event, LambdaContext())) == []
    assert mail.by_stream() == {"order-1": [1], "order-2": [1, 2, 3]}
    assert view.by_stream() == {"order-1": [1, 2, 3], "order-2": [1, 2, 3]}
    (parked,) = state.list_parked("mail")
    assert (parked.stream_id, parked.first_version, parked.last_version) == ("order-1", 2, 3)


class FailingState(SqliteRouterState):
    """Router state whose writes fail, as a throttled table would."""

    def record_applied(self, subscription: str, versions: Any) -> None:
        raise OSError("router state unavailable")


def test_records_whose_work_is_not_done_are_reported(
    store: SqliteEventStore, tmp_path: Path, targets: Any
) -> None:
    fill(store, {"order-1": 2})
    state = FailingState(tmp_path / "failing.db", durability="off")
    handlers = handlers_for(targets, store, state)
    event = dynamodb_stream_event(store.read_all(0, 100), first_sequence=500)
    assert failures(handlers.dynamodb_stream(event, LambdaContext())) == [
        "000000000000000000500",
        "000000000000000000501",
    ]


def test_retry_waits_give_up_before_the_invocation_times_out(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    fill(store, {"order-1": 1})
    flaky = SqliteTarget(tmp_path / "flaky.db")

    def always(_: RecordedEvent) -> None:
        raise ConnectionError("partner down")

    flaky.faults.append(always)
    patient = RetryPolicy(attempts=50, base_delay=10.0, max_delay=60.0)
    handlers = router_handlers(
        [Subscription("partner", flaky, retry=patient)], store, versions=state, parking=state
    )
    event = dynamodb_stream_event(store.read_all(0, 10))
    response = handlers.dynamodb_stream(event, LambdaContext(remaining_ms=2_000))
    assert len(failures(response)) == 1
    assert state.list_parked("partner") == []  # not parked: Lambda retries the record


@pytest.mark.aws
def test_sqs_messages_are_routed_and_unreadable_ones_fail(
    aws: MotoAws, store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    fill(store, {"order-1": 2, "order-2": 1})
    sqs_target(sqs, url, happened_codec()).apply(store.read_all(0, 100))
    sqs.send_message(QueueUrl=url, MessageBody="not an event")
    received = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    event = {"Records": [lambda_sqs_record(m, url) for m in received]}
    response = router_handlers(
        [Subscription("view", targets[0])], store, versions=state, parking=state
    ).sqs(event, LambdaContext())
    bad = next(m["MessageId"] for m in received if m["Body"] == "not an event")
    assert failures(response) == [bad]
    assert targets[0].by_stream() == {"order-1": [1, 2], "order-2": [1]}


def lambda_sqs_record(message: dict[str, Any], url: str) -> dict[str, Any]:
    """A ReceiveMessage message as the SQS event source hands it to Lambda."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000"},
        "messageAttributes": {
            name: {
                "stringValue": value["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + url.rsplit("/", 1)[-1],
        "awsRegion": "us-east-1",
    }


def test_subscription_names_must_be_unique(
    store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    with pytest.raises(ValueError, match="unique: view"):
        router_handlers(
            [Subscription("view", targets[0]), Subscription("view", targets[1])],
            store,
            versions=state,
            parking=state,
        )


def test_an_event_without_records_is_refused(
    store: SqliteEventStore, state: SqliteRouterState, targets: Any
) -> None:
    with pytest.raises(ValueError, match="no 'Records' list"):
        handlers_for(targets, store, state).sqs({"body": "x"}, LambdaContext())
