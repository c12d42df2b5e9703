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
