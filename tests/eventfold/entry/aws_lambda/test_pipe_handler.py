"""The EventBridge Pipes variant: ``router_handlers(...).pipe`` given what a Pipe delivers,
a bare JSON array of DynamoDB Streams, Kinesis or SQS records (the shapes of
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-source.html)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.domain.events import RecordedEvent
from eventfold.entry.aws_lambda import router_handlers
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.change_records import (
    dynamodb_stream_event,
    kinesis_change,
    kinesis_event,
)
from tests.eventfold.adapters.aws.messaging_support import create_queue, happened_codec
from tests.eventfold.core.router.targets import SqliteTarget, TrackingSqliteTarget, fill
from tests.eventfold.entry.aws_lambda.test_router_handlers import (
    RETRY_ONCE,
    FailingState,
    LambdaContext,
    failures,
    lambda_sqs_record,
)


def pipe_dynamodb_records(events: list[RecordedEvent], first: int = 100) -> list[dict[str, Any]]:
    """A Pipe's DynamoDB Streams records: Lambda's records, bare."""
    records: list[dict[str, Any]] = dynamodb_stream_event(events, first_sequence=first)["Records"]
    return records


def pipe_kinesis_records(changes: list[dict[str, Any]], first: int = 100) -> list[dict[str, Any]]:
    """A Pipe's Kinesis records: the fields Lambda nests under ``kinesis`` at the top."""
    lambda_records = kinesis_event(changes, first=first)["Records"]
    return [
        {**record["kinesis"], **{k: v for k, v in record.items() if k != "kinesis"}}
        for record in lambda_records
    ]


def handlers_for(store: SqliteEventStore, state: SqliteRouterState, *targets: Any) -> Any:
    subscriptions = [Subscription(t.name, t, retry=RETRY_ONCE) for t in targets]
    return router_handlers(
        subscriptions, store, versions=state, parking=state, events_table="eventfold-events"
    )


@pytest.fixture
def state(tmp_path: Path) -> SqliteRouterState:
    return SqliteRouterState(tmp_path / "router.db", durability="off")


def test_a_dynamodb_stream_pipe_batch_is_routed_and_a_retry_is_all_duplicates(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    fill(store, {"order-1": 3, "order-2": 2})
    view = TrackingSqliteTarget(tmp_path / "view.db", "view")
    handlers = handlers_for(store, state, view)
    batch = pipe_dynamodb_records(store.read_all(0, 100))
    assert handlers.pipe(batch, LambdaContext()) == {"batchItemFailures": []}
    assert handlers.pipe(batch, LambdaContext()) == {"batchItemFailures": []}
    assert view.by_stream() == {"order-1": [1, 2, 3], "order-2": [1, 2]}


def test_shuffled_duplicated_kinesis_pipe_batches_reach_the_ordered_state(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    streams = {f"order-{n}": 1 + n % 4 for n in range(10)}
    fill(store, streams)
    changes = [kinesis_change(e) for e in store.read_all(0, 1000)]
    shuffler = random.Random(11)
    changes += shuffler.sample(changes, k=10)
    shuffler.shuffle(changes)
    view = TrackingSqliteTarget(tmp_path / "view.db", "view")
    handlers = handlers_for(store, state, view)
    for start in range(0, len(changes), 7):
        batch = pipe_kinesis_records(changes[start : start + 7], first=start)
        assert failures(handlers.pipe(batch, LambdaContext())) == []
    assert view.by_stream() == {s: list(range(1, n + 1)) for s, n in streams.items()}


def test_undone_stream_records_are_reported_by_event_id_as_pipes_expects(
    store: SqliteEventStore, tmp_path: Path
) -> None:
    fill(store, {"order-1": 2})
    state = FailingState(tmp_path / "failing.db", durability="off")
    mail = SqliteTarget(tmp_path / "mail.db", "mail")
    handlers = handlers_for(store, state, mail)
    dynamodb = pipe_dynamodb_records(store.read_all(0, 100))
    assert failures(handlers.pipe(dynamodb, LambdaContext())) == ["id-0", "id-1"]
    kinesis = pipe_kinesis_records([kinesis_change(e) for e in store.read_all(0, 100)], first=7)
    assert failures(handlers.pipe(kinesis, LambdaContext())) == [r["eventID"] for r in kinesis]
    assert kinesis[0]["eventID"].startswith("shardId-")


def test_a_poison_stream_parks_only_itself(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    fill(store, {"order-1": 3, "order-2": 3})
    mail = SqliteTarget(tmp_path / "mail.db", "mail")

    def poison(event: RecordedEvent) -> None:
        if event.key == "order-1:2":
            raise ValueError("the mail server refuses this address")

    mail.faults.append(poison)
    handlers = handlers_for(store, state, mail)
    batch = pipe_dynamodb_records(store.read_all(0, 100))
    assert failures(handlers.pipe(batch, LambdaContext())) == []
    assert mail.by_stream() == {"order-1": [1], "order-2": [1, 2, 3]}
    (parked,) = state.list_parked("mail")
    assert (parked.stream_id, parked.first_version, parked.last_version) == ("order-1", 2, 3)


@pytest.mark.aws
def test_an_sqs_pipe_batch_fails_only_the_messages_without_an_event(
    aws: MotoAws, store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    fill(store, {"order-1": 2})
    sqs_target(sqs, url, happened_codec()).apply(store.read_all(0, 100))
    sqs.send_message(QueueUrl=url, MessageBody="not an event")
    received = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    view = TrackingSqliteTarget(tmp_path / "view.db", "view")
    response = handlers_for(store, state, view).pipe(
        [lambda_sqs_record(m, url) for m in received], LambdaContext()
    )
    bad = next(m["MessageId"] for m in received if m["Body"] == "not an event")
    assert failures(response) == [bad]
    assert view.by_stream() == {"order-1": [1, 2]}


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        ({"Records": []}, "JSON array of records"),
        ([{"eventSource": "aws:dynamodb"}, {"eventSource": "aws:sqs"}], "one source"),
        ([{"eventSource": "aws:s3"}], "one source"),
    ],
)
def test_what_is_no_pipe_batch_is_refused(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path, batch: Any, problem: str
) -> None:
    handlers = handlers_for(store, state, SqliteTarget(tmp_path / "v.db", "view"))
    with pytest.raises(ValueError, match=problem):
        handlers.pipe(batch, LambdaContext())


def test_an_empty_pipe_batch_is_done(
    store: SqliteEventStore, state: SqliteRouterState, tmp_path: Path
) -> None:
    handlers = handlers_for(store, state, SqliteTarget(tmp_path / "v.db", "view"))
    assert handlers.pipe([], LambdaContext()) == {"batchItemFailures": []}
