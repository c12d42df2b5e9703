"""ProtobufCodec on a small test language (tests/fixtures/protobuf/orders/orders.proto)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

import pytest
from google.protobuf.message import Message

from eventfold import CodecError, ConfigurationError, EventTypes, RecordedEvent, UnknownEventType
from eventfold.codecs import (
    JSON_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
    EnvelopeFields,
    JsonCodec,
    ProtobufCodec,
)
from tests.contracts.event_codec import EventCodecContract
from tests.eventfold.adapters.protobuf.protos import FIXTURES, load_messages

MESSAGES = load_messages(FIXTURES / "orders")
ENVELOPE = MESSAGES["testing.orders.v1.OrderEvent"]
AT = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)


class Channel(StrEnum):
    UNSPECIFIED = "CHANNEL_UNSPECIFIED"
    WEB = "WEB"
    STORE = "STORE"


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderAccepted:
    order_id: str
    goods_id: int
    total_cents: int
    tags: tuple[str, ...]
    first_line: Line
    lines: tuple[Line, ...]
    channel: Channel
    accepted_at: datetime
    note: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderCanceled:
    order_id: str
    reason: str


def event_types() -> EventTypes:
    types = EventTypes()
    types.register(OrderAccepted)
    types.register(OrderCanceled)
    return types


def codec(types: EventTypes | None = None) -> ProtobufCodec:
    return ProtobufCodec(types or event_types(), ENVELOPE)


ACCEPTED = OrderAccepted(
    order_id="o-1",
    goods_id=42,
    total_cents=2**40 + 7,  # an int64 stays an int (MessageToDict would give a string)
    tags=("gift", "express"),
    first_line=Line("sku-1", 2),
    lines=(Line("sku-1", 2), Line("sku-2", 1)),
    channel=Channel.STORE,
    accepted_at=AT,
    note="ring twice",
    counts={"a": 1, "b": 2},
)


def recorded(
    data: bytes, type_: str = "OrderAccepted", schema: int = 1, **metadata: str
) -> RecordedEvent:
    return RecordedEvent("order-o-1", 3, type_, data, schema, metadata, AT + timedelta(seconds=1))


def test_every_kind_of_field_survives_a_round_trip() -> None:
    subject = codec()
    data = subject.encode(ACCEPTED, {"command_id": "c-1"})

    assert (data.type, data.schema, data.metadata) == ("OrderAccepted", 1, {"command_id": "c-1"})
    assert subject.decode(recorded(data.data)) == ACCEPTED


def test_the_store_holds_the_envelope_with_only_the_body_set() -> None:
    data = codec().encode(OrderCanceled("o-1", "changed my mind")).data
    envelope = ENVELOPE.FromString(data)

    assert envelope.WhichOneof("body") == "order_canceled"
    assert envelope.order_canceled.reason == "changed my mind"
    assert (envelope.stream_id, envelope.version) == ("", 0)


def test_encoding_is_deterministic() -> None:
    assert codec().encode(ACCEPTED).data == codec().encode(ACCEPTED).data


def test_unset_optional_fields_come_back_as_the_dataclass_default() -> None:
    subject = codec()
    event = OrderAccepted("o-2", 1, 0, (), Line("s", 1), (), Channel.WEB, AT)

    assert subject.decode(recorded(subject.encode(event).data)) == event


def test_events_with_keyword_only_fields_decode() -> None:
    # The all-scalar fast path builds events positionally: keyword-only ones must avoid it.
    @dataclass(frozen=True, kw_only=True)
    class OrderCanceled:
        order_id: str
        reason: str

    types = EventTypes()
    types.register(OrderCanceled)
    subject = codec(types)
    event = OrderCanceled(order_id="o-1", reason="changed my mind")

    assert subject.decode(recorded(subject.encode(event).data, "OrderCanceled")) == event


def test_timestamps_keep_microseconds_and_come_back_in_utc() -> None:
    subject = codec()
    tokyo = AT.astimezone(timezone(timedelta(hours=9)))
    event = OrderAccepted("o-3", 1, 0, (), Line("s", 1), (), Channel.WEB, tokyo)

    decoded = subject.decode(recorded(subject.encode(event).data))

    assert isinstance(decoded, OrderAccepted)
    assert decoded.accepted_at == AT
    assert decoded.accepted_at.utcoffset() == timedelta(0)


def test_to_json_is_the_proto3_json_mapping_with_proto_field_names() -> None:
    subject = codec()
    view = subject.to_json(recorded(subject.encode(ACCEPTED).data))

    assert view["total_cents"] == str(2**40 + 7)  # proto3 JSON: int64 as a string
    assert view["accepted_at"] == "2026-11-22T09:30:15.123456Z"
    assert view["first_line"] == {"sku": "sku-1", "quantity": 2}
    assert view["channel"] == "STORE"
    json.dumps(view)  # readable JSON for the CLI and logs


def test_events_an_older_deployment_stored_as_json_still_decode() -> None:
    types = event_types()
    stored = JsonCodec(types).encode(ACCEPTED).data
    event = recorded(stored, content_type=JSON_CONTENT_TYPE)

    assert codec(types).decode(event) == ACCEPTED
    assert codec(types).to_json(event)["order_id"] == "o-1"


def test_a_payload_that_is_not_protobuf_is_a_codec_error_naming_the_event() -> None:
    with pytest.raises(CodecError, match=r"order-o-1:3: payload is not a protobuf"):
        codec().decode(recorded(b"\xff\xff\xff garbage"))


def test_a_payload_whose_body_is_another_event_is_a_codec_error() -> None:
    data = codec().encode(OrderCanceled("o-1", "x")).data

    with pytest.raises(CodecError, match="holds order_canceled"):
        codec().decode(recorded(data, "OrderAccepted"))


def test_an_unknown_event_type_is_reported_by_name() -> None:
    data = codec().encode(OrderCanceled("o-1", "x")).data

    with pytest.raises(UnknownEventType, match="OrderShipped"):
        codec().decode(recorded(data, "OrderShipped"))


def test_an_unregistered_class_cannot_be_encoded() -> None:
    with pytest.raises(CodecError, match="Line is not a registered event type"):
        codec().encode(Line("s", 1))


def test_a_value_the_message_cannot_hold_is_a_codec_error() -> None:
    event = OrderAccepted("o", 2**40, 0, (), Line("s", 1), (), Channel.WEB, AT)

    with pytest.raises(CodecError, match=r"OrderAccepted does not fit testing\.orders\.v1"):
        codec().encode(event)


def test_a_timestamp_without_a_time_zone_is_a_codec_error_naming_the_field() -> None:
    naive = AT.replace(tzinfo=None)
    event = OrderAccepted("o", 1, 0, (), Line("s", 1), (), Channel.WEB, naive)

    with pytest.raises(CodecError, match=r"accepted_at: .* has no time zone"):
        codec().encode(event)


def test_an_event_without_a_body_case_is_a_configuration_error() -> None:
    @dataclass(frozen=True)
    class OrderShipped:
        order_id: str

    types = event_types()
    types.register(OrderShipped)

    with pytest.raises(ConfigurationError, match="OrderShipped: no case of testing"):
        codec(types)


def test_a_dataclass_field_missing_from_the_message_is_a_configuration_error() -> None:
    @dataclass(frozen=True)
    class OrderCanceled:
        order_id: str
        reason: str
        refund: int

    types = EventTypes()
    types.register(OrderCanceled)

    with pytest.raises(ConfigurationError, match=r"OrderCanceled\.refund has no field"):
        codec(types)


def test_events_can_be_mapped_to_messages_of_other_names() -> None:
    @dataclass(frozen=True)
    class Canceled:
        order_id: str
        reason: str

    types = EventTypes()
    types.register(Canceled)
    message = MESSAGES["testing.orders.v1.OrderCanceled"]
    subject = ProtobufCodec(types, ENVELOPE, {Canceled: message})

    data = subject.encode(Canceled("o-1", "x")).data
    assert subject.decode(recorded(data, "Canceled")) == Canceled("o-1", "x")


def test_an_envelope_without_the_named_fields_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="has no order_id, created_at"):
        ProtobufCodec(
            event_types(),
            ENVELOPE,
            envelope_fields=EnvelopeFields(stream_id="order_id", recorded_at="created_at"),
        )


def test_the_published_envelope_carries_stream_version_time_and_metadata() -> None:
    subject = codec()
    event = recorded(subject.encode(ACCEPTED).data, correlation_id="k-9")

    envelope: Message = subject.envelope_of(event)

    parsed = ENVELOPE.FromString(envelope.SerializeToString())
    assert (parsed.stream_id, parsed.version) == ("order-o-1", 3)
    assert parsed.recorded_at.ToDatetime(tzinfo=UTC) == event.recorded_at
    assert dict(parsed.metadata) == {"correlation_id": "k-9"}
    assert parsed.order_accepted.goods_id == 42
    assert subject.content_type == PROTOBUF_CONTENT_TYPE


class TestProtobufCodec(EventCodecContract):
    """The small orders language (every kind of field); all at schema 1, so ``older`` holds
    what an older deployment stored as JSON."""

    @pytest.fixture
    def codec(self) -> ProtobufCodec:
        return codec()

    @pytest.fixture
    def samples(self) -> list[object]:
        defaults = OrderAccepted("o-2", 1, 0, (), Line("s", 1), (), Channel.UNSPECIFIED, AT)
        return [ACCEPTED, defaults, OrderCanceled("o-1", "changed my mind")]

    @pytest.fixture
    def older(self, codec: ProtobufCodec) -> list[tuple[RecordedEvent, object]]:
        stored = JsonCodec(codec.types).encode(ACCEPTED).data
        return [(recorded(stored, content_type=JSON_CONTENT_TYPE), ACCEPTED)]


def test_every_reader_of_a_recorded_event_gets_the_same_decoding() -> None:
    """The router's subscriptions are handed the same event objects: decoded once."""
    subject = codec()
    event = recorded(subject.encode(ACCEPTED).data)
    assert subject.decode(event) is subject.decode(event)
    assert subject.decode(replace(event)) == ACCEPTED
