"""What the two shard-by-shard feeds (DynamoDB Streams, Kinesis) share.

Both keep a checkpoint that is a JSON object mapping shard ids to the sequence number of the
last record read from each, both poll by reading after those positions and waiting between
empty reads, and both re-list their shards only every so often. How a shard is read — the
API, the iterators, the order of shards — is each feed's own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Generic, TypeVar

from eventfold.core.router.ports import BEGINNING, FeedBatch, Lag
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError

Positions = dict[str, str]
"""Shard id -> sequence number of the last record read from it (or a feed's own marker)."""

ReadShards = Callable[[Positions], tuple[list[RecordedEvent], Lag]]
"""Reads events after ``positions`` (moving them in place); the events, and the lag then."""

DecodeRecord = Callable[[str, Mapping[str, Any]], RecordedEvent | None]
"""The event in a record of a shard (None: not an event, skipped)."""

ShardT = TypeVar("ShardT")

_UNKNOWN = Lag(None, None)
_REMEMBERED_LAGS = 256


def positions_of(checkpoint: str, feed: str) -> Positions:
    """The shard positions a checkpoint of ``feed`` names (``BEGINNING``: none yet)."""
    if checkpoint == BEGINNING:
        return {}
    try:
        positions = json.loads(checkpoint)
    except json.JSONDecodeError:
        positions = None
    if not isinstance(positions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in positions.items()
    ):
        raise ConfigurationError(
            f"checkpoint {checkpoint!r} is not a {feed} checkpoint (a JSON object mapping "
            "shard ids to sequence numbers)"
        )
    return positions


def checkpoint_of(positions: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(positions.items())), separators=(",", ":")) if positions else ""


def drop_gone(positions: Positions, listed: Collection[str]) -> None:
    """Forgets the positions of shards no longer ``listed``: trimmed away by retention,
    nothing more to read there."""
    for gone in set(positions) - set(listed):
        del positions[gone]


def take_records(
    shard: str,
    records: Iterable[Mapping[str, Any]],
    decode: DecodeRecord,
    sequence_number: Callable[[Mapping[str, Any]], str],
    positions: Positions,
    into: list[RecordedEvent],
) -> int:
    """Appends the events among ``records`` read from ``shard`` to ``into``, moving the
    shard's position past every record, skipped ones too; how many events were appended."""
    taken = 0
    for record in records:
        event = decode(shard, record)
        positions[shard] = sequence_number(record)
        if event is not None:
            into.append(event)
            taken += 1
    return taken


class ShardPolls:
    """The poll loop of a shard feed: read after the checkpoint; while nothing comes, wait
    ``interval`` between reads until the timeout, or until :meth:`wake`. Remembers the lag
    each read ended at, by the checkpoint it moved to, for the feed's ``lag``. Thread-safe.
    """

    def __init__(self, feed: str) -> None:
        self._feed = feed
        self._woken = threading.Condition()
        self._wakes = 0
        self._lock = threading.Lock()
        self._lags: dict[str, Lag] = {}

    def poll(
        self, checkpoint: str, read: ReadShards, *, timeout: float, interval: float
    ) -> FeedBatch:
        positions = positions_of(checkpoint, self._feed)
        deadline = time.monotonic() + timeout
        with self._woken:
            wakes = self._wakes
        while True:
            events, lag = read(positions)
            moved = checkpoint_of(positions)
            self._remember(moved, lag)
            if events:
                return FeedBatch(events, moved)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return FeedBatch((), moved)
            with self._woken:
                if self._wakes == wakes:
                    self._woken.wait(min(remaining, interval))
                if self._wakes != wakes:
                    return FeedBatch((), moved)

    def wake(self) -> None:
        with self._woken:
            self._wakes += 1
            self._woken.notify_all()

    def lag(self, checkpoint: str) -> Lag:
        """The lag the last read that moved to ``checkpoint`` ended at (unknown: none yet)."""
        with self._lock:
            return self._lags.get(checkpoint, _UNKNOWN)

    def _remember(self, checkpoint: str, lag: Lag) -> None:
        with self._lock:
            if len(self._lags) > _REMEMBERED_LAGS:
                self._lags.clear()
            self._lags[checkpoint] = lag


class ShardList(Generic[ShardT]):
    """A stream's shards, listed again only when the last listing is ``refresh`` seconds
    old (listing calls are rate-limited). Thread-safe."""

    def __init__(
        self, list_shards: Callable[[], list[ShardT]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._list_shards = list_shards
        self._clock = clock
        self._lock = threading.Lock()
        self._shards: list[ShardT] = []
        self._listed = float("-inf")

    def get(self, refresh: float) -> list[ShardT]:
        now = self._clock()
        with self._lock:
            if now - self._listed < refresh:
                return list(self._shards)
        shards = self._list_shards()
        with self._lock:
            self._shards = shards
            self._listed = now
            return list(shards)
