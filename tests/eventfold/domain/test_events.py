from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from eventfold import CodecError, EventTypes, JsonCodec, RecordedEvent, UnknownEventType


@dataclass(frozen=True)
class PriceSet:
    item_id: str
    amount_cents: int
    currency: str


def v1_to_v2(payload: dict[str, object]) -> dict[str, object]:
    # v1 stored a float "price" in euros
    price = payload.pop("price")
    assert isinstance(price, float | int)
    return {**payload, "amount": round(price * 100)}


def v2_to_v3(payload: dict[str, object]) -> dict[str, object]:
    return {"item_id": payload["item_id"], "amount_cents": payload["amount"], "currency": "EUR"}


def recorded(type_: str, schema: int, data: bytes) -> RecordedEvent:
    return RecordedEvent("item-1", 1, type_, data, schema, {}, datetime.now(UTC))


@pytest.fixture
def types() -> EventTypes:
    registry = EventTypes()
    registry.register(
        PriceSet, schema=3, upcasters={1: v1_to_v2, 2: v2_to_v3}, aliases=("PriceChanged",)
    )
    return registry


def test_old_payloads_are_upcast_through_every_step(types: EventTypes) -> None:
    codec = JsonCodec(types)
    old = recorded("PriceChanged", 1, b'{"item_id":"i1","price":12.5}')
    assert codec.decode(old) == PriceSet("i1", 1250, "EUR")


def test_current_payloads_decode_as_they_are(types: EventTypes) -> None:
    codec = JsonCodec(types)
    data = codec.encode(PriceSet("i1", 5, "JPY"), {"k": "v"})
    assert (data.type, data.schema, data.metadata) == ("PriceSet", 3, {"k": "v"})
    assert codec.decode(recorded(data.type, data.schema, data.data)) == PriceSet("i1", 5, "JPY")


def test_a_schema_newer_than_the_code_is_refused(types: EventTypes) -> None:
    with pytest.raises(CodecError, match="newer than this code"):
        JsonCodec(types).decode(recorded("PriceSet", 4, b"{}"))


def test_unknown_types_and_bad_payloads_are_codec_errors(types: EventTypes) -> None:
    codec = JsonCodec(types)
    with pytest.raises(UnknownEventType, match="Nope"):
        codec.decode(recorded("Nope", 1, b"{}"))
    with pytest.raises(CodecError, match="not JSON"):
        codec.decode(recorded("PriceSet", 3, b"\xff"))
    with pytest.raises(CodecError, match="not a JSON object"):
        codec.decode(recorded("PriceSet", 3, b"[1]"))
    with pytest.raises(CodecError, match="not a registered event type"):
        codec.encode(object())


def test_names_are_unique_and_upcasters_complete() -> None:
    registry = EventTypes()
    registry.register(PriceSet)

    @dataclass
    class Other:
        x: int

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Other, name="PriceSet")
    with pytest.raises(ValueError, match="no upcaster"):
        registry.register(Other, schema=3, upcasters={1: v1_to_v2})
    assert "PriceSet" in registry
    assert [t.name for t in registry] == ["PriceSet"]
