"""The Kinesis feed: Kinesis Data Streams for DynamoDB, read shard by shard.

The table streams each change of the events table into a Kinesis data stream (records in
the format of :mod:`eventfold.adapters.aws.change_records`). Kinesis keeps them longer and
serves more consumers than DynamoDB Streams, but records of one event stream may land on
different shards, so they arrive out of order and sometimes twice. The feed does not try to
restore order: the router's per-stream version check skips duplicates and heals gaps from
the event store. That is also why all shards, parents and children of a resharding alike,
are read side by side.

The checkpoint is a JSON object mapping each shard id to the sequence number of the last
record read from it (``BEGINNING``: every shard from TRIM_HORIZON). Iterators are acquired
AFTER_SEQUENCE_NUMBER of that record, cached by (shard, sequence number) so a steady reader
does not spend GetShardIterator calls (5 per second per shard), and re-acquired when Kinesis
says one expired (after 5 minutes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from eventfold.adapters.aws.change_records import event_of_change, kinesis_change
from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.service_calls import call_service
from eventfold.adapters.aws.shards import Positions, ShardList, ShardPolls, drop_gone, take_records
from eventfold.core.router.ports import FeedBatch, Lag
from eventfold.domain.events import RecordedEvent
from eventfold.errors import StoreError

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient

log = structlog.stdlib.get_logger(__name__)

EXPIRED = frozenset({"ExpiredIteratorException"})
_ITERATOR_TTL = 240.0  # Kinesis iterators live 5 minutes; renew a little earlier
_CACHE_LIMIT = 4096
_EMPTY_READS_WHILE_BEHIND = 5


@dataclass(frozen=True, slots=True)
class _Iterator:
    value: str | None  # None: the shard is closed and read to its end
    acquired: float


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["SequenceNumber"])


class KinesisFeed:
    """The Feed port over a Kinesis data stream fed by the events table. Thread-safe.

    ``stream``: the stream's name or ARN. ``events_table``: only changes of this table are
    events (None: every table's INSERTs are). ``poll_interval``: how long an idle poll
    sleeps between reads (Kinesis allows 5 GetRecords per second per shard, shared by
    every consumer). Records that are not event items are logged and skipped: the event
    store stays the truth and a later event of the stream heals over the hole.
    """

    def __init__(
        self,
        client: KinesisClient,
        stream: str,
        *,
        events_table: str | None = None,
        name: str = "kinesis",
        poll_interval: float = 1.0,
        shard_refresh: float = 60.0,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.stream = stream
        self.events_table = events_table
        self.name = name
        self.poll_interval = poll_interval
        self.shard_refresh = shard_refresh
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._stream_args: dict[str, str] = (
            {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        )
        self._lock = threading.Lock()
        self._polls = ShardPolls("Kinesis feed")
        self._shards = ShardList(self._list_shards, clock)
        self._iterators: dict[tuple[str, str], _Iterator] = {}
        self._turn = 0

    # -- Feed --------------------------------------------------------------------------
    def poll(self, checkpoint: str, *, limit: int = 500, timeout: float = 1.0) -> FeedBatch:
        return self._polls.poll(
            checkpoint,
            partial(self._read, limit=limit),
            timeout=timeout,
            interval=self.poll_interval,
        )

    def ack(self, batch: FeedBatch) -> None:
        """A log: nothing to acknowledge."""

    def lag(self, checkpoint: str) -> Lag:
        """Kinesis cannot count records; the age behind the head is what the last read
        from ``checkpoint`` reported (MillisBehindLatest), when there was one."""
        return self._polls.lag(checkpoint)

    def wake(self) -> None:
        self._polls.wake()

    # -- reading -----------------------------------------------------------------------
    def _read(self, positions: Positions, limit: int) -> tuple[list[RecordedEvent], Lag]:
        """Up to ``limit`` events from the shards after ``positions`` (updated in place),
        and the lag: how far behind the head the reads ended, in seconds."""
        shards = self._shards.get(self.shard_refresh)
        drop_gone(positions, shards)
        events: list[RecordedEvent] = []
        behind = 0.0
        with self._lock:
            self._turn += 1
            start = self._turn % len(shards) if shards else 0
        for shard in shards[start:] + shards[:start]:
            if len(events) >= limit:
                break
            shard_behind = self._read_shard(shard, positions, limit - len(events), events)
            behind = max(behind, shard_behind)
        return events, Lag(None, behind)

    def _read_shard(
        self, shard: str, positions: Positions, limit: int, into: list[RecordedEvent]
    ) -> float:
        behind = 0.0
        for _ in range(_EMPTY_READS_WHILE_BEHIND):
            after = positions.get(shard, "")
            iterator = self._iterator(shard, after)
            if iterator is None:
                return 0.0
            try:
                response = call_service(
                    partial(
                        self.client.get_records, ShardIterator=iterator, Limit=min(limit, 10_000)
                    ),
                    self.backoff,
                    "Kinesis",
                    f"GetRecords of {shard}",
                    passthrough=EXPIRED,
                )
            except ClientError as expired:
                log.info("shard iterator expired; re-acquiring", shard=shard, error=str(expired))
                self._forget(shard, after)
                continue
            records = response.get("Records", [])
            take_records(shard, records, self._decode, _sequence_number, positions, into)
            behind = response.get("MillisBehindLatest", 0) / 1000.0
            self._cache(shard, positions.get(shard, ""), response.get("NextShardIterator"))
            if records or behind <= 0:
                break
        return behind

    def _decode(self, shard: str, record: Mapping[str, Any]) -> RecordedEvent | None:
        try:
            return event_of_change(kinesis_change(record["Data"]), self.events_table)
        except StoreError as bad:
            log.warning(
                "skipping Kinesis record: not an event item",
                sequence_number=record.get("SequenceNumber"),
                shard=shard,
                error=str(bad),
            )
            return None

    # -- shards and iterators --------------------------------------------------------------
    def _list_shards(self) -> list[str]:
        shards: list[str] = []
        token: str | None = None
        while True:
            request: dict[str, Any] = {"NextToken": token} if token else dict(self._stream_args)
            page = call_service(
                partial(self.client.list_shards, **request),
                self.backoff,
                "Kinesis",
                f"ListShards of {self.stream}",
            )
            shards.extend(s["ShardId"] for s in page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                return sorted(shards)

    def _iterator(self, shard: str, after: str) -> str | None:
        now = self._clock()
        with self._lock:
            cached = self._iterators.get((shard, after))
        if cached is not None and (cached.value is None or now - cached.acquired < _ITERATOR_TTL):
            return cached.value
        request: dict[str, Any] = {**self._stream_args, "ShardId": shard}
        if after:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        else:
            request.update(ShardIteratorType="TRIM_HORIZON")
        response = call_service(
            partial(self.client.get_shard_iterator, **request),
            self.backoff,
            "Kinesis",
            f"GetShardIterator of {shard}",
        )
        value = response.get("ShardIterator")
        self._cache(shard, after, value)
        return value

    def _cache(self, shard: str, after: str, iterator: str | None) -> None:
        with self._lock:
            if len(self._iterators) > _CACHE_LIMIT:
                self._iterators.clear()
            self._iterators[(shard, after)] = _Iterator(iterator, self._clock())

    def _forget(self, shard: str, after: str) -> None:
        with self._lock:
            self._iterators.pop((shard, after), None)
