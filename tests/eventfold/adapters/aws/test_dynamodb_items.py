"""Item sizes as DynamoDB counts them, and the limits checked before any call."""

from __future__ import annotations

from typing import Any

import pytest

from eventfold import EventData, StoreLimitExceeded
from eventfold.adapters.aws.dynamodb_items import (
    MAX_ITEM_BYTES,
    check_limits,
    event_item,
    event_of,
    item_size,
    value_size,
)


def test_strings_and_binaries_count_their_bytes_and_names_count_too() -> None:
    assert value_size({"S": "héllo"}) == 6
    assert value_size({"B": b"\x00" * 10}) == 10
    assert item_size({"stream_id": {"S": "a-1"}, "data": {"B": b"xy"}}) == 9 + 3 + 4 + 2


def test_numbers_count_at_least_their_documented_size() -> None:
    # AWS: ~1 byte per two significant digits + 1; counted here with a safety byte.
    assert value_size({"N": "7"}) >= 2
    assert value_size({"N": "12345678901234567890"}) >= 11
    assert value_size({"N": "-0.0012"}) <= value_size({"N": "12345"})


def test_maps_and_lists_add_their_overhead() -> None:
    assert value_size({"M": {}}) == 3
    assert value_size({"M": {"ab": {"S": "xyz"}}}) == 3 + 2 + 3 + 1
    assert value_size({"L": [{"S": "a"}, {"BOOL": True}]}) == 3 + (1 + 1) + (1 + 1)


def test_an_unknown_attribute_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown DynamoDB attribute type"):
        value_size({"X": 1})


def event_of_size(data_bytes: int) -> dict[str, Any]:
    return event_item(
        "order-1", 1, EventData("Big", b"x" * data_bytes), "2024-01-01T00:00:00+00:00"
    )


def test_an_item_just_under_400_kb_passes_and_one_byte_more_is_refused() -> None:
    overhead = item_size(event_of_size(0))
    fits = event_of_size(MAX_ITEM_BYTES - overhead)
    assert item_size(fits) == MAX_ITEM_BYTES
    check_limits([("event order-1:1", fits)])
    with pytest.raises(StoreLimitExceeded, match=r"event order-1:1 is 409601 bytes.*400 KB"):
        check_limits([("event order-1:1", event_of_size(MAX_ITEM_BYTES - overhead + 1))])


def test_more_than_100_actions_are_refused() -> None:
    small = event_of_size(1)
    check_limits([("e", small)] * 100)
    with pytest.raises(StoreLimitExceeded, match=r"101 DynamoDB write actions.*allows 100"):
        check_limits([("e", small)] * 101)


def test_more_than_4_mb_in_one_transaction_is_refused() -> None:
    big = event_of_size(400_000)
    check_limits([("e", big)] * 10)
    with pytest.raises(StoreLimitExceeded, match=r"writes \d+ bytes.*4 MB"):
        check_limits([("e", big)] * 11)


def test_metadata_written_as_a_json_string_reads_back() -> None:
    item = event_of_size(1)
    item["metadata"] = {"S": '{"command_id": "c-1"}'}
    assert event_of(item).metadata == {"command_id": "c-1"}
