"""The parts both shard feeds share, on plain values: checkpoints, the poll loop, the
shard list's refresh. (Each feed's own tests run them against moto.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from eventfold.adapters.aws.shards import (
    Positions,
    ShardList,
    ShardPolls,
    checkpoint_of,
    drop_gone,
    positions_of,
    take_records,
)
from eventfold.core.router.ports import BEGINNING, Lag
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError

HAPPENED = RecordedEvent("order-1", 1, "Happened", b"{}", 1, {}, datetime.now(UTC))


def test_checkpoints_round_trip_sorted_by_shard() -> None:
    checkpoint = checkpoint_of({"b": "2", "a": "end"})
    assert checkpoint == '{"a":"end","b":"2"}'
    assert positions_of(checkpoint, "test feed") == {"a": "end", "b": "2"}
    assert checkpoint_of({}) == BEGINNING
    assert positions_of(BEGINNING, "test feed") == {}


@pytest.mark.parametrize("text", ["nope", "42", "[]", '{"shard": 1}'])
def test_a_foreign_checkpoint_is_refused_naming_the_feed(text: str) -> None:
    with pytest.raises(ConfigurationError, match="is not a test feed checkpoint"):
        positions_of(text, "test feed")


def test_a_poll_returns_what_the_read_found_at_the_moved_checkpoint() -> None:
    polls = ShardPolls("test feed")

    def read(positions: Positions) -> tuple[list[RecordedEvent], Lag]:
        positions["s1"] = "7"
        return [HAPPENED], Lag(None, 3.0)

    batch = polls.poll(BEGINNING, read, timeout=60, interval=60)
    assert list(batch.events) == [HAPPENED]
    assert batch.checkpoint == '{"s1":"7"}'
    assert polls.lag(batch.checkpoint) == Lag(None, 3.0)
    assert polls.lag(BEGINNING) == Lag(None, None)  # never read from: unknown


def test_an_empty_read_is_followed_by_another_after_the_interval() -> None:
    reads: list[Positions] = []

    def read(positions: Positions) -> tuple[list[RecordedEvent], Lag]:
        reads.append(dict(positions))
        return ([HAPPENED] if len(reads) == 2 else []), Lag(None, None)

    batch = ShardPolls("test feed").poll('{"s1":"7"}', read, timeout=60, interval=0.01)
    assert list(batch.events) == [HAPPENED]
    assert reads == [{"s1": "7"}, {"s1": "7"}]


def test_an_empty_poll_ends_at_its_timeout_with_the_checkpoint_it_reached() -> None:
    def read(positions: Positions) -> tuple[list[RecordedEvent], Lag]:
        positions["s1"] = "8"  # records read, none of them events
        return [], Lag(0, 0.0)

    batch = ShardPolls("test feed").poll('{"s1":"7"}', read, timeout=0, interval=60)
    assert list(batch.events) == []
    assert batch.checkpoint == '{"s1":"8"}'


def test_a_wake_ends_the_wait_of_an_empty_poll() -> None:
    polls = ShardPolls("test feed")
    reads = 0

    def read(positions: Positions) -> tuple[list[RecordedEvent], Lag]:
        nonlocal reads
        reads += 1
        polls.wake()  # as if an event were committed while reading
        return [], Lag(None, None)

    batch = polls.poll(BEGINNING, read, timeout=60, interval=60)
    assert list(batch.events) == []
    assert reads == 1  # without the wake it would have waited and read again


def test_the_shard_list_is_listed_again_only_once_it_is_old() -> None:
    now = 100.0
    listings: list[float] = []

    def list_shards() -> list[str]:
        listings.append(now)
        return [f"shard-{len(listings)}"]

    shards = ShardList(list_shards, clock=lambda: now)
    assert shards.get(refresh=60) == ["shard-1"]
    now = 159.0
    assert shards.get(refresh=60) == ["shard-1"]
    now = 160.0
    assert shards.get(refresh=60) == ["shard-2"]
    assert shards.get(refresh=0) == ["shard-3"]
    assert listings == [100.0, 160.0, 160.0]


def test_positions_of_shards_no_longer_listed_are_dropped() -> None:
    positions = {"kept": "7", "trimmed": "3", "ended": "end"}
    drop_gone(positions, ["kept", "ended", "new"])
    assert positions == {"kept": "7", "ended": "end"}


def test_taking_records_moves_the_position_past_skipped_ones_too() -> None:
    def decode(shard: str, record: Mapping[str, Any]) -> RecordedEvent | None:
        assert shard == "s1"
        return HAPPENED if record["event"] else None

    records = [{"seq": "1", "event": True}, {"seq": "2", "event": False}]
    positions: Positions = {"s0": "9"}
    into: list[RecordedEvent] = []
    taken = take_records("s1", records, decode, lambda r: str(r["seq"]), positions, into)
    assert taken == 1
    assert into == [HAPPENED]
    assert positions == {"s0": "9", "s1": "2"}
