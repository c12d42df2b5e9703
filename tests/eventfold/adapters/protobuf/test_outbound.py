"""encode_outbound: what webhooks and SQS/SNS targets send, protobuf or JSON as configured."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from eventfold import ConfigurationError, RecordedEvent
from eventfold.adapters.protobuf.outbound import outbound_format, snake_case
from eventfold.codecs import (
    JsonCodec,
    OutboundFormat,
    ProtobufCodec,
    encode_outbound,
    outbound_text,
)
from tests.eventfold.adapters.protobuf.test_codec import (
    ENVELOPE,
    OrderCanceled,
    codec,
    event_types,
)

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CANCELED = OrderCanceled("o-1", "changed my mind")


def stored(subject: ProtobufCodec | JsonCodec) -> RecordedEvent:
    data = subject.encode(CANCELED)
    metadata = {"correlation_id": "k-1", "content_type": subject.content_type}
    return RecordedEvent("order-o-1", 4, data.type, data.data, data.schema, metadata, AT)


def test_protobuf_is_the_full_envelope_with_a_content_type_naming_its_message() -> None:
    subject = codec()

    body, content_type = encode_outbound(subject, stored(subject), OutboundFormat.PROTOBUF)

    assert content_type == "application/x-protobuf; messageType=testing.orders.v1.OrderEvent"
    envelope = ENVELOPE.FromString(body)
    assert (envelope.stream_id, envelope.version) == ("order-o-1", 4)
    assert envelope.recorded_at.ToDatetime(tzinfo=UTC) == AT
    assert envelope.order_canceled.reason == "changed my mind"
    assert envelope.metadata["correlation_id"] == "k-1"


def test_json_is_the_same_envelope_in_the_proto3_json_mapping() -> None:
    subject = codec()

    body, content_type = encode_outbound(subject, stored(subject), "json")

    assert content_type == "application/json"
    assert json.loads(body) == {
        "stream_id": "order-o-1",
        "version": 4,
        "recorded_at": "2026-11-22T10:00:00Z",
        "metadata": {"correlation_id": "k-1", "content_type": "application/x-protobuf"},
        "order_canceled": {"order_id": "o-1", "reason": "changed my mind"},
    }


def test_a_json_codec_publishes_the_same_json_shape() -> None:
    protobuf_json, _ = encode_outbound(codec(), stored(codec()), "json")
    subject = JsonCodec(event_types())

    body, content_type = encode_outbound(subject, stored(subject), "JSON")

    assert content_type == "application/json"
    mine, theirs = json.loads(body), json.loads(protobuf_json)
    del mine["metadata"]["content_type"], theirs["metadata"]["content_type"]
    assert mine == theirs


def test_protobuf_from_a_json_codec_is_a_configuration_error_saying_what_to_do() -> None:
    subject = JsonCodec(event_types())

    with pytest.raises(ConfigurationError, match="configure 'json' for this subscription"):
        encode_outbound(subject, stored(subject), "protobuf")


def test_an_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match="use one of protobuf, json"):
        outbound_format("avro")


def test_text_transports_carry_protobuf_as_base64_and_json_as_is() -> None:
    subject = codec()
    body, content_type = encode_outbound(subject, stored(subject), "protobuf")
    json_body, json_type = encode_outbound(subject, stored(subject), "json")

    assert base64.b64decode(outbound_text(body, content_type)) == body
    assert outbound_text(json_body, json_type) == json_body.decode()


@pytest.mark.parametrize(
    ("name", "case"),
    [("ReservationAccepted", "reservation_accepted"), ("HTTPCallMade", "http_call_made")],
)
def test_snake_case_names_the_body_case(name: str, case: str) -> None:
    assert snake_case(name) == case
