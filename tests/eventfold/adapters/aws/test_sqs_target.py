"""The SQS target on moto: standard and FIFO queues, message attributes, batching, and
failures that name the events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eventfold import DeliveryFailed, SqliteEventStore
from eventfold.adapters.aws.messages import (
    MAX_MESSAGE_BYTES,
    OutboundMessage,
    batches,
    fifo_id,
    outbound_message,
)
from eventfold.adapters.aws.outbound_target import MessageTarget, partial_failure
from eventfold.adapters.aws.sqs_feed import message_event
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.codecs import ProtobufCodec
from eventfold.core.router.ports import RetryPolicy, Subscription
from eventfold.core.router.router import Router
from eventfold.domain.events import RecordedEvent
from eventfold.errors import CodecError
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.aws.messaging_support import (
    create_queue,
    happened_codec,
    receive_all,
)
from tests.eventfold.adapters.protobuf.test_codec import ENVELOPE, OrderCanceled, codec
from tests.eventfold.core.router.targets import fill

pytestmark = pytest.mark.aws


def events_of(store: SqliteEventStore, streams: dict[str, int]) -> list[RecordedEvent]:
    fill(store, streams)
    return store.read_all(0, 1000)


def test_each_event_becomes_one_message_with_attributes(
    aws: MotoAws, store: SqliteEventStore
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    events = events_of(store, {"order-1": 2, "order-2": 1})
    sqs_target(sqs, url, happened_codec()).apply(events)

    messages = receive_all(sqs, url)
    assert len(messages) == 3
    first = next(m for m in messages if m["MessageAttributes"]["version"]["StringValue"] == "2")
    attributes = {k: v["StringValue"] for k, v in first["MessageAttributes"].items()}
    assert attributes["stream_id"] == "order-1"
    assert attributes["category"] == "order"
    assert attributes["type"] == "Happened"
    assert attributes["schema"] == "1"
    assert attributes["content_type"] == "application/json"
    assert first["MessageAttributes"]["version"]["DataType"] == "Number"
    body = json.loads(first["Body"])
    assert (body["stream_id"], body["version"]) == ("order-1", 2)
    assert body["happened"] == {"v": 2}
    back = message_event(first)
    assert (back.key, back.type, json.loads(back.data)) == ("order-1:2", "Happened", {"v": 2})
    assert happened_codec().decode(back) == happened_codec().decode(events[2])


def test_more_than_ten_events_go_in_several_batches(aws: MotoAws, store: SqliteEventStore) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    events = events_of(store, {f"order-{n}": 3 for n in range(9)})
    sqs_target(sqs, url, happened_codec()).apply(events)
    keys = {message_event(m).key for m in receive_all(sqs, url)}
    assert keys == {e.key for e in events}
    assert len(keys) == 27


def test_fifo_queues_group_by_stream_and_drop_a_resent_event(
    aws: MotoAws, store: SqliteEventStore
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events.fifo")
    events = events_of(store, {"order-1": 3, "order-2": 2})
    target = sqs_target(sqs, url, happened_codec())
    target.apply(events)
    target.apply(events[:2])  # a re-send after a partial failure: deduplicated by AWS

    got = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        AttributeNames=["MessageGroupId", "MessageDeduplicationId"],
        MessageAttributeNames=["All"],
    )["Messages"]
    seen = [(m["Attributes"]["MessageGroupId"], message_event(m).version) for m in got]
    assert len(seen) == 5
    assert sorted(seen) == [
        ("order-1", 1),
        ("order-1", 2),
        ("order-1", 3),
        ("order-2", 1),
        ("order-2", 2),
    ]
    assert [v for g, v in seen if g == "order-1"] == [1, 2, 3]
    assert {m["Attributes"]["MessageDeduplicationId"] for m in got} == {e.key for e in events}


def protobuf_event() -> tuple[ProtobufCodec, RecordedEvent]:
    subject = codec()
    data = subject.encode(OrderCanceled("o-1", "changed my mind"), {"correlation_id": "k-1"})
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    return subject, RecordedEvent("order-o-1", 4, data.type, data.data, data.schema, {}, at)


def test_protobuf_bodies_are_base64_and_say_so(aws: MotoAws) -> None:
    subject, recorded = protobuf_event()
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    sqs_target(sqs, url, subject, format="protobuf").apply([recorded])
    (message,) = receive_all(sqs, url)
    content_type = message["MessageAttributes"]["content_type"]["StringValue"]
    assert content_type == "application/x-protobuf; messageType=testing.orders.v1.OrderEvent"
    envelope = ENVELOPE.FromString(base64.b64decode(message["Body"]))
    assert (envelope.stream_id, envelope.version) == ("order-o-1", 4)
    assert subject.decode(message_event(message)) == OrderCanceled("o-1", "changed my mind")


def test_a_protobuf_service_publishing_json_reads_back_the_same_event(aws: MotoAws) -> None:
    subject, recorded = protobuf_event()
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    sqs_target(sqs, url, subject, format="json").apply([recorded])
    (message,) = receive_all(sqs, url)
    assert json.loads(message["Body"])["order_canceled"]["reason"] == "changed my mind"
    back = message_event(message)
    assert back.metadata["content_type"] == "application/json"
    assert subject.decode(back) == OrderCanceled("o-1", "changed my mind")


def test_fifo_ids_that_do_not_fit_are_hashed() -> None:
    assert fifo_id("order-1:2") == "order-1:2"
    long = "x" * 129
    assert len(fifo_id(long)) == 64
    assert fifo_id("bestellung-ü:1") != "bestellung-ü:1"
    assert len(fifo_id("with space:1")) == 64


def test_batches_hold_ten_messages_and_at_most_256_kib(store: SqliteEventStore) -> None:
    codec = happened_codec()
    events = events_of(store, {"order-1": 25})
    messages = [outbound_message(codec, e, "json") for e in events]
    assert [len(b) for b in batches(messages)] == [1] * 25  # one event per stream and batch
    fill(store, {f"s-{n}": 2 for n in range(12)})
    many = [outbound_message(codec, e, "json") for e in store.read_all(25, 100)]
    grouped = list(batches(many))
    assert [len(b) for b in grouped] == [10, 10, 4]
    assert all(len({m.event.stream_id for m in b}) == len(b) for b in grouped)
    sent = [m.event.key for b in grouped for m in b]
    for n in range(12):
        assert sent.index(f"s-{n}:1") < sent.index(f"s-{n}:2")
    big = OutboundMessage(events[0], "x" * (MAX_MESSAGE_BYTES // 2), messages[0].attributes)
    other = OutboundMessage(events[1], big.body, big.attributes)
    assert len(list(batches([big, other]))) == 2  # same stream: in order, one per batch


def test_a_message_over_the_limit_is_refused_for_good(
    aws: MotoAws, store: SqliteEventStore
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    (small,) = events_of(store, {"order-1": 1})
    padding = {"pad": "x" * MAX_MESSAGE_BYTES}
    huge = RecordedEvent("order-2", 1, "Happened", b'{"v":1}', 1, padding, small.recorded_at)
    with pytest.raises(DeliveryFailed, match=r"order-2:1 is \d+ bytes") as refused:
        sqs_target(sqs, url, happened_codec()).apply([small, huge])
    assert not refused.value.retryable
    assert receive_all(sqs, url) == []  # checked before anything is sent


def test_an_undecodable_event_raises_a_codec_error(aws: MotoAws, store: SqliteEventStore) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    (event,) = events_of(store, {"order-1": 1})
    broken = RecordedEvent(event.stream_id, 1, "Happened", b"not json", 1, {}, event.recorded_at)
    with pytest.raises(CodecError):
        sqs_target(sqs, url, happened_codec()).apply([broken])
    assert receive_all(sqs, url) == []


def test_a_missing_queue_is_a_retryable_delivery_failure_naming_the_events(
    aws: MotoAws, store: SqliteEventStore
) -> None:
    sqs = aws.client("sqs")
    url = create_queue(sqs, "events")
    sqs.delete_queue(QueueUrl=url)
    events = events_of(store, {"order-1": 2, "order-2": 1})
    with pytest.raises(DeliveryFailed, match=r"not sent \(order-1:1, order-2:1\)") as failed:
        sqs_target(sqs, url, happened_codec()).apply(events)
    assert failed.value.retryable


# -- partial failures ----------------------------------------------------------------------
def refusing(refused: set[str], *, sender_fault: bool) -> Any:
    """A SendBatch answering like SendMessageBatch does when AWS refuses some entries."""
    sent: list[str] = []

    def send(entries: list[dict[str, Any]]) -> dict[str, Any]:
        failed, ok = [], []
        for entry in entries:
            key = "{}:{}".format(
                entry["MessageAttributes"]["stream_id"]["StringValue"],
                entry["MessageAttributes"]["version"]["StringValue"],
            )
            if key in refused:
                failed.append(
                    {"Id": entry["Id"], "SenderFault": sender_fault, "Code": "X", "Message": "no"}
                )
            else:
                sent.append(key)
                ok.append({"Id": entry["Id"], "MessageId": key})
        return {"Successful": ok, "Failed": failed}

    send.sent = sent  # type: ignore[attr-defined]
    return send


def test_a_partial_failure_names_the_refused_events(store: SqliteEventStore) -> None:
    events = events_of(store, {"order-1": 1, "order-2": 1, "order-3": 1})
    send = refusing({"order-2:1"}, sender_fault=False)
    target = MessageTarget(
        "q", "SQS queue q", happened_codec(), "json", fifo=False, body_key="MessageBody", send=send
    )
    with pytest.raises(
        DeliveryFailed, match=r"1 of 3 messages not accepted: order-2:1: X no"
    ) as failed:
        target.apply(events)
    assert failed.value.retryable
    assert send.sent == ["order-1:1", "order-3:1"]


def test_refusals_that_are_all_the_senders_fault_are_not_retried(store: SqliteEventStore) -> None:
    events = events_of(store, {"order-1": 1})
    batch = [outbound_message(happened_codec(), events[0], "json")]
    failure = partial_failure("q", batch, [{"Id": "0", "SenderFault": True, "Code": "Bad"}])
    assert not failure.retryable
    assert "order-1:1: Bad" in str(failure)


def test_the_router_parks_only_the_refused_stream(store: SqliteEventStore, tmp_path: Path) -> None:
    events = events_of(store, {"order-1": 2, "order-2": 2})
    send = refusing({"order-2:1"}, sender_fault=True)
    target = MessageTarget(
        "q", "SQS queue q", happened_codec(), "json", fifo=False, body_key="MessageBody", send=send
    )
    state = SqliteRouterState(tmp_path / "router.db")
    router = Router(
        Subscription("queue", target, retry=RetryPolicy(attempts=2, base_delay=0)),
        store,
        versions=state,
        parking=state,
    )
    report = router.deliver(events)
    assert report.parked == [("order-2", 1), ("order-2", 2)]
    assert state.applied_versions("queue", ["order-1", "order-2"]) == {"order-1": 2}
    assert set(send.sent) == {"order-1:1", "order-1:2"}
