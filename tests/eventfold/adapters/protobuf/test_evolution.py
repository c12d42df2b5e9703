"""Schema evolution: events stored by version 1 of a language decode with version 2's code.

tests/fixtures/protobuf/evolution/v1_events.json holds bytes written by v1/orders.proto;
v2/orders.proto adds a field and an event, renames ``reason`` to ``cause`` (same number)
and retypes ``refund`` (int32 -> decimal string, the old number kept as ``refund_v1``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from eventfold import CodecError, EventTypes, RecordedEvent, UnknownEventType
from eventfold.codecs import EnvelopeFields, ProtobufCodec, encode_outbound
from tests.contracts.event_codec import EventCodecContract
from tests.eventfold.adapters.protobuf.protos import FIXTURES, load_messages

V1 = load_messages(FIXTURES / "evolution" / "v1")
V2 = load_messages(FIXTURES / "evolution" / "v2")
ENVELOPE = "testing.evolution.OrderEvent"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FIELDS = EnvelopeFields(recorded_at=None, metadata=None)  # this envelope has neither


@dataclass(frozen=True)
class OrderAccepted:
    order_id: str
    goods_id: int
    channel: str = ""


@dataclass(frozen=True)
class OrderCanceled:
    order_id: str
    cause: str
    refund: Decimal


@dataclass(frozen=True)
class OrderShipped:
    order_id: str


def refund_to_decimal(payload: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: the whole-yen int32 (now ``refund_v1``) becomes a decimal string."""
    return {**payload, "refund": str(Decimal(payload.pop("refund_v1")))}


def v2_codec() -> ProtobufCodec:
    types = EventTypes()
    types.register(OrderAccepted)
    types.register(OrderCanceled, schema=2, upcasters={1: refund_to_decimal})
    types.register(OrderShipped)
    return ProtobufCodec(types, V2[ENVELOPE], envelope_fields=FIELDS)


def stored_v1_events() -> list[RecordedEvent]:
    fixture = json.loads((FIXTURES / "evolution" / "v1_events.json").read_text())
    return [
        RecordedEvent(
            e["stream_id"],
            e["version"],
            e["type"],
            base64.b64decode(e["data"]),
            e["schema"],
            {},
            AT,
        )
        for e in fixture["events"]
    ]


def test_version_1_events_decode_with_version_2_code() -> None:
    accepted, canceled = stored_v1_events()
    codec = v2_codec()

    assert codec.decode(accepted) == OrderAccepted("o-1", 42)  # the added field: its default
    assert codec.decode(canceled) == OrderCanceled("o-1", "out of stock", Decimal("1500"))


def test_the_upcaster_runs_only_for_the_old_schema() -> None:
    codec = v2_codec()
    event = OrderCanceled("o-2", "late", Decimal("12.50"))
    data = codec.encode(event)

    assert data.schema == 2
    stored = RecordedEvent("order-o-2", 1, data.type, data.data, data.schema, {}, AT)
    assert codec.decode(stored) == event


def test_old_events_are_published_at_the_current_schema() -> None:
    _, canceled = stored_v1_events()

    body, content_type = encode_outbound(v2_codec(), canceled, "protobuf")

    published = V2[ENVELOPE].FromString(body)
    assert content_type == "application/x-protobuf; messageType=testing.evolution.OrderEvent"
    assert (published.stream_id, published.version) == ("order-o-1", 2)
    assert published.order_canceled.refund == "1500"
    assert published.order_canceled.cause == "out of stock"


def test_old_code_refuses_a_newer_schema_instead_of_misreading_it() -> None:
    old_types = EventTypes()
    old_types.register(OrderAccepted)  # v1 code knew OrderCanceled at schema 1 only
    old_types.register(OrderCanceled)
    data = v2_codec().encode(OrderCanceled("o-3", "x", Decimal(1)))
    newer = RecordedEvent("order-o-3", 1, data.type, data.data, data.schema, {}, AT)

    with pytest.raises(CodecError, match="schema 2 is newer than this code knows"):
        ProtobufCodec(old_types, V2[ENVELOPE], envelope_fields=FIELDS).decode(newer)


def test_an_event_type_added_later_is_unknown_to_old_code() -> None:
    @dataclass(frozen=True)
    class OrderAcceptedV1:
        order_id: str
        goods_id: int

    old_types = EventTypes()
    old_types.register(OrderAcceptedV1, name="OrderAccepted")
    data = v2_codec().encode(OrderShipped("o-4"))
    shipped = RecordedEvent("order-o-4", 3, data.type, data.data, data.schema, {}, AT)

    with pytest.raises(UnknownEventType, match="OrderShipped"):
        ProtobufCodec(old_types, V1[ENVELOPE], envelope_fields=FIELDS).decode(shipped)


class TestEvolvedProtobufCodec(EventCodecContract):
    """Version 2 of the evolution language, reading what version 1 stored."""

    @pytest.fixture
    def codec(self) -> ProtobufCodec:
        return v2_codec()

    @pytest.fixture
    def samples(self) -> list[object]:
        return [
            OrderAccepted("o-1", 42, "web"),
            OrderCanceled("o-1", "late", Decimal("12.50")),
            OrderShipped("o-1"),
        ]

    @pytest.fixture
    def older(self) -> list[tuple[RecordedEvent, object]]:
        accepted, canceled = stored_v1_events()
        return [
            (accepted, OrderAccepted("o-1", 42)),
            (canceled, OrderCanceled("o-1", "out of stock", Decimal("1500"))),
        ]
