"""The DynamoDB Streams feed: the events table's own change stream, read shard by shard.

DynamoDB Streams keeps each item key's changes in order within a shard, and a shard's
records come before those of its children (after a split or a roll-over every few hours).
The feed keeps that order: a child shard is read only once its parent is closed and read
to its end (or trimmed away by the 24 h retention). So each event stream arrives in
version order, once per read of a checkpoint.

The checkpoint is a JSON object mapping shard ids to the sequence number of the last
record read from it, or ``"end"`` for a closed shard read to its end (``BEGINNING``:
nothing read yet). Every poll acquires a fresh iterator AFTER_SEQUENCE_NUMBER of the last
record read (TRIM_HORIZON for a shard not read yet): iterators expire after 15 minutes,
and moto's iterators go dead after any cancelled transaction, so a cached one is never
trusted across polls. Where the router keeps the checkpoint is the router's business
(its Checkpoints port; on AWS, DynamoDBRouterState in the checkpoints table
``create-tables`` makes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import structlog
from botocore.exceptions import ClientError

from eventfold.adapters.aws.dynamodb_items import event_of
from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.service_calls import call_service
from eventfold.adapters.aws.shards import Positions, ShardList, ShardPolls, drop_gone, take_records
from eventfold.core.router.ports import FeedBatch, Lag
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

log = structlog.stdlib.get_logger(__name__)

END = "end"
"""Checkpoint value of a closed shard that has been read to its end."""

StartAt = Literal["TRIM_HORIZON", "LATEST"]
_EVENT_NAMES = frozenset({"INSERT", "MODIFY"})
_TRIMMED = frozenset({"TrimmedDataAccessException"})
_LATEST_TTL = 600.0  # DynamoDB Streams iterators live 15 minutes


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parent_id: str | None


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def readable_shards(shards: Sequence[Shard], positions: Positions) -> list[Shard]:
    """The shards to read now, parents first: not read to their end, and whose parent is
    read to its end or no longer in the stream. Drops positions of trimmed shards."""
    listed = {shard.shard_id for shard in shards}
    drop_gone(positions, listed)
    return [
        shard
        for shard in shards
        if positions.get(shard.shard_id) != END
        and (
            shard.parent_id is None
            or shard.parent_id not in listed
            or positions.get(shard.parent_id) == END
        )
    ]


def latest_stream_arn(dynamodb: DynamoDBClient, table: str, backoff: Backoff | None = None) -> str:
    """The ARN of the events table's current stream (ConfigurationError if it has none)."""
    description = call_service(
        partial(dynamodb.describe_table, TableName=table),
        backoff or Backoff(),
        "DynamoDB",
        f"DescribeTable {table}",
    )["Table"]
    arn = description.get("LatestStreamArn")
    if not arn or not description.get("StreamSpecification", {}).get("StreamEnabled"):
        raise ConfigurationError(
            f"table {table!r} has no DynamoDB stream: run `eventfold aws create-tables "
            "--feed streams` (it enables NEW_IMAGE streams on the events table)"
        )
    return arn


class DynamoDBStreamsFeed:
    """The Feed port over the events table's DynamoDB stream. Thread-safe.

    ``start``: where a shard not in the checkpoint starts — TRIM_HORIZON (everything the
    stream still holds; the default) or LATEST (only what is written from the first poll
    on; shards that appear later, children, always start at TRIM_HORIZON). With LATEST,
    the position before the first record is held by this process only.
    """

    def __init__(
        self,
        client: DynamoDBStreamsClient,
        stream_arn: str,
        *,
        name: str = "dynamodb-streams",
        start: StartAt = "TRIM_HORIZON",
        poll_interval: float = 1.0,
        shard_refresh: float = 60.0,
        backoff: Backoff | None = None,
    ) -> None:
        if start not in ("TRIM_HORIZON", "LATEST"):
            raise ConfigurationError(f"start {start!r} is not TRIM_HORIZON or LATEST")
        self.client = client
        self.stream_arn = stream_arn
        self.name = name
        self.start = start
        self.poll_interval = poll_interval
        self.shard_refresh = shard_refresh
        self.backoff = backoff or Backoff()
        self._lock = threading.Lock()
        self._polls = ShardPolls("DynamoDB Streams feed")
        self._shards = ShardList(self._describe_shards)
        self._initial: set[str] | None = None  # shards open at the first poll (LATEST)
        self._latest: dict[str, tuple[str, float]] = {}

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
        """DynamoDB Streams cannot count records or say how far behind a reader is; what is
        known is whether the last read from ``checkpoint`` found the shards drained."""
        return self._polls.lag(checkpoint)

    def wake(self) -> None:
        self._polls.wake()

    # -- reading -----------------------------------------------------------------------
    def _read(self, positions: Positions, limit: int) -> tuple[list[RecordedEvent], Lag]:
        """Up to ``limit`` events from the readable shards after ``positions`` (updated in
        place), and the lag: none when fewer came (drained), unknown otherwise."""
        events: list[RecordedEvent] = []
        # Reading a parent to its end makes its children readable in the same poll.
        while len(events) < limit:
            ended = {shard for shard, at in positions.items() if at == END}
            for shard in readable_shards(self._shards.get(self.shard_refresh), positions):
                if len(events) >= limit:
                    break
                self._read_shard(shard.shard_id, positions, limit - len(events), events)
            if {shard for shard, at in positions.items() if at == END} <= ended:
                break
        return events, (Lag(0, 0.0) if len(events) < limit else Lag(None, None))

    def _read_shard(
        self, shard: str, positions: Positions, limit: int, into: list[RecordedEvent]
    ) -> None:
        iterator = self._iterator(shard, positions.get(shard, ""))
        while iterator is not None and limit > 0:
            response = call_service(
                partial(self.client.get_records, ShardIterator=iterator, Limit=min(limit, 1000)),
                self.backoff,
                "DynamoDB Streams",
                f"GetRecords of {shard}",
            )
            records = response.get("Records", [])
            limit -= take_records(shard, records, self._decode, _sequence_number, positions, into)
            iterator = response.get("NextShardIterator")
            if iterator is None:
                positions[shard] = END  # closed, and every record of it is read
                self._latest.pop(shard, None)
            elif shard in self._latest and shard not in positions:
                self._latest[shard] = (iterator, time.monotonic())
            if not records:
                return

    def _decode(self, shard: str, record: Mapping[str, Any]) -> RecordedEvent | None:
        if record.get("eventName") not in _EVENT_NAMES:
            return None
        try:
            return event_of(record["dynamodb"]["NewImage"])
        except (KeyError, StoreError) as bad:
            log.warning(
                "skipping stream record: not an event item",
                sequence_number=record.get("dynamodb", {}).get("SequenceNumber"),
                shard=shard,
                error=str(bad),
            )
            return None

    # -- shards and iterators --------------------------------------------------------------
    def _describe_shards(self) -> list[Shard]:
        shards: list[Shard] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = call_service(
                partial(self.client.describe_stream, **request),
                self.backoff,
                "DynamoDB Streams",
                f"DescribeStream of {self.stream_arn}",
            )["StreamDescription"]
            shards.extend(
                Shard(s["ShardId"], s.get("ParentShardId")) for s in description.get("Shards", [])
            )
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            request["ExclusiveStartShardId"] = last
        with self._lock:
            if self._initial is None:
                self._initial = {s.shard_id for s in shards}
        return shards

    def _iterator(self, shard: str, after: str) -> str | None:
        request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard}
        if after:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        elif self.start == "LATEST" and self._initial is not None and shard in self._initial:
            held = self._latest.get(shard)
            if held is not None and time.monotonic() - held[1] < _LATEST_TTL:
                return held[0]
            request.update(ShardIteratorType="LATEST")
        else:
            request.update(ShardIteratorType="TRIM_HORIZON")
        try:
            response = call_service(
                partial(self.client.get_shard_iterator, **request),
                self.backoff,
                "DynamoDB Streams",
                f"GetShardIterator of {shard}",
                passthrough=_TRIMMED,
            )
        except ClientError as trimmed:
            # The reader was away longer than the stream's retention: what was trimmed is
            # gone from the stream (not from the events table: the router heals the gap).
            log.warning("records were trimmed", after=after, shard=shard, error=str(trimmed))
            request.update(ShardIteratorType="TRIM_HORIZON")
            request.pop("SequenceNumber", None)
            response = call_service(
                partial(self.client.get_shard_iterator, **request),
                self.backoff,
                "DynamoDB Streams",
                f"GetShardIterator of {shard}",
            )
        iterator = response.get("ShardIterator")
        if request["ShardIteratorType"] == "LATEST" and iterator is not None:
            self._latest[shard] = (iterator, time.monotonic())
        return iterator
