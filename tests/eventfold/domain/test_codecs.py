from __future__ import annotations

import enum
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventfold import CodecError, EventTypes, JsonCodec, RecordedEvent
from eventfold.domain.codecs import (
    JSON_CONTENT_TYPE,
    RecentDecodes,
    decode_state,
    encode_state,
    from_plain,
    to_plain,
)
from eventfold.domain.events import CONTENT_TYPE
from tests.contracts.event_codec import AT, EventCodecContract
from tests.eventfold.domain import counter


class Status(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Order:
    order_id: str
    status: Status
    placed_at: datetime
    due: date
    total: Decimal
    lines: tuple[Line, ...] = ()
    note: str | None = None
    tags: frozenset[str] = frozenset()
    counts: dict[str, int] = field(default_factory=dict)
    ratio: float = 0.0


ORDER = Order(
    "o1",
    Status.OPEN,
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    date(2026, 2, 1),
    Decimal("12.30"),
    (Line("a", 1), Line("b", 2)),
    None,
    frozenset({"x"}),
    {"a": 1},
    1.5,
)


def test_nested_dataclasses_round_trip() -> None:
    assert from_plain(Order, to_plain(ORDER)) == ORDER


def test_state_snapshots_round_trip_through_bytes() -> None:
    assert decode_state(Order, encode_state(ORDER)) == ORDER


def test_wrong_shapes_are_codec_errors() -> None:
    with pytest.raises(CodecError):
        from_plain(Line, {"sku": "a", "quantity": "many"})
    with pytest.raises(CodecError):
        from_plain(Line, ["a", 1])
    with pytest.raises(CodecError):
        decode_state(Line, b'{"sku": "a"}')
    with pytest.raises(CodecError, match="cannot encode"):
        to_plain(object())


def test_missing_fields_with_defaults_take_the_default() -> None:
    plain = to_plain(ORDER)
    del plain["note"], plain["tags"]
    assert from_plain(Order, plain) == replace(ORDER, tags=frozenset())


@given(st.builds(Line, st.text(), st.integers()))
def test_any_line_round_trips(line: Line) -> None:
    assert from_plain(Line, to_plain(line)) == line


@dataclass(frozen=True)
class Node:
    name: str
    children: tuple[Node, ...] = ()


def test_a_dataclass_may_refer_to_itself() -> None:
    tree = Node("root", (Node("a"), Node("b", (Node("c"),))))
    assert from_plain(Node, to_plain(tree)) == tree


@pytest.mark.parametrize("tp", [Mapping[str, int], typing.Mapping[str, int], dict[str, int]])
def test_mapping_hints_decode_to_dicts(tp: object) -> None:
    assert from_plain(tp, {"a": 1}) == {"a": 1}
    with pytest.raises(CodecError):
        from_plain(tp, {"a": "one"})


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        (Status, "half-open"),
        (tuple[Line, ...], [{"sku": "a", "quantity": 1}, {"sku": 2, "quantity": 1}]),
        (datetime, "yesterday"),
        (list[int], "1,2"),
        (float, True),
        (dict[str, int], [("a", 1)]),
    ],
)
def test_every_misfit_is_a_codec_error(tp: object, value: object) -> None:
    with pytest.raises(CodecError):
        from_plain(tp, value)


def added_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (made up for the contract: the counter never had one) called it ``by``."""
    return {"amount": payload["by"]}


class TestJsonCodec(EventCodecContract):
    """The counter's events; ``Added`` at schema 2 so that upcasting is exercised."""

    @pytest.fixture
    def codec(self) -> JsonCodec:
        types = EventTypes()
        types.register(counter.Added, schema=2, upcasters={1: added_v1_to_v2})
        types.register(counter.WasReset)
        return JsonCodec(types)

    @pytest.fixture
    def samples(self) -> list[object]:
        return [counter.Added(3), counter.WasReset()]

    @pytest.fixture
    def older(self) -> list[tuple[RecordedEvent, object]]:
        metadata = {CONTENT_TYPE: JSON_CONTENT_TYPE}
        stored = RecordedEvent("counter-1", 1, "Added", b'{"by":3}', 1, metadata, AT)
        return [(stored, counter.Added(3))]


# -- RecentDecodes: one decoding per recorded event object ---------------------------------


def _json_codec(cls: type) -> JsonCodec:
    types = EventTypes()
    types.register(cls)
    return JsonCodec(types)


def _stored(codec: JsonCodec, event: object, version: int = 1) -> RecordedEvent:
    data = codec.encode(event)
    return RecordedEvent("order-o1", version, data.type, data.data, data.schema, {}, AT)


def test_a_recorded_event_object_is_decoded_once_and_its_copy_again() -> None:
    recent = RecentDecodes()
    calls: list[RecordedEvent] = []

    def decode(event: RecordedEvent) -> object:
        calls.append(event)
        return Line(event.stream_id, event.version)

    event = _stored(_json_codec(Line), Line("a", 1))
    first, again = recent.decode(event, decode), recent.decode(event, decode)
    copy = replace(event)  # equal, but another object: never taken for the first one
    assert (first is again, len(calls)) == (True, 1)
    assert recent.decode(copy, decode) is not first
    assert calls == [event, copy]


def test_a_failed_decoding_is_not_remembered() -> None:
    recent = RecentDecodes()
    event = _stored(_json_codec(Line), Line("a", 1))
    outcomes: list[object] = [CodecError("broken"), Line("a", 1)]

    def decode(_: RecordedEvent) -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(CodecError):
        recent.decode(event, decode)
    assert recent.decode(event, decode) == Line("a", 1)


def test_recent_decodes_keep_at_most_their_size_dropping_the_oldest() -> None:
    recent = RecentDecodes(size=2)
    codec = _json_codec(Line)
    events = [_stored(codec, Line("a", n), version=n) for n in (1, 2, 3)]
    calls: list[int] = []

    def decode(event: RecordedEvent) -> object:
        calls.append(event.version)
        return Line(event.stream_id, event.version)

    for event in events:
        recent.decode(event, decode)
    for event in reversed(events):  # 3 and 2 are kept; 1 was dropped when 3 came
        recent.decode(event, decode)
    assert calls == [1, 2, 3, 1]


def test_the_json_codec_hands_every_reader_of_an_event_the_same_decoding() -> None:
    codec = _json_codec(Order)
    event = _stored(codec, ORDER)
    assert codec.decode(event) is codec.decode(event)
    assert codec.decode(replace(event)) == ORDER
