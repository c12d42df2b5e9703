"""The production event store: DynamoDB, one TransactWriteItems per append.

An append writes, in ONE transaction: each stream's state item (conditional on the version
read), its event items (conditional on absence) and the command-id item (conditional on
absence). The table layout is in :mod:`eventfold.adapters.aws.dynamodb_items`. A cancelled
transaction is explained from its CancellationReasons: a failed command-id condition is a
duplicate (or a reused key), a failed state condition a ConcurrencyConflict naming the
stream with the version it really has. Reads are strongly consistent and paginate.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from eventfold.adapters.aws.dynamodb_items import (
    RESERVED_PREFIX,
    TableNames,
    check_limits,
    command_item,
    command_key,
    commit_of,
    event_item,
    event_of,
    snapshot_of,
    state_item,
    version_of,
)
from eventfold.adapters.aws.errors import Backoff, call_aws, cancellation_codes
from eventfold.core.ports import Commit, Snapshot, StreamWrite
from eventfold.domain.events import RecordedEvent
from eventfold.errors import (
    ConcurrencyConflict,
    StoreError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# Actions of a transaction, in order: what each one is, for explaining a cancellation.
_Owner = tuple[str, StreamWrite | None]  # ("state" | "event" | "command", its write)
_NAMES = {"#v": "version"}
_SCAN_DONE = object()
_T = TypeVar("_T")
_PagesOf = Callable[[int, int, threading.Event], Iterator[list[_T]]]
"""Scans one segment of a table: (segment, total segments, stop) -> pages of results."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _check_stream_id(stream_id: str) -> None:
    if not stream_id or stream_id.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"stream id {stream_id!r} is empty or starts with {RESERVED_PREFIX!r}, "
            "which the DynamoDB store reserves for command ids"
        )


class DynamoDBEventStore:
    """The EventStore port on the seeds' two DynamoDB tables.

    ``page_size`` caps the items per Query/Scan page (None: DynamoDB's 1 MB pages);
    ``scan_segments`` is the parallelism of :meth:`scan`. The boto3 client is thread-safe,
    so one store may serve many threads.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        tables: TableNames | None = None,
        *,
        backoff: Backoff | None = None,
        page_size: int | None = None,
        scan_segments: int = 4,
        clock: Callable[[], str] = _now,
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be at least 1")
        if scan_segments < 1:
            raise ValueError("scan_segments must be at least 1")
        self.client = client
        self.tables = tables or TableNames()
        self.backoff = backoff or Backoff()
        self.page_size = page_size
        self.scan_segments = scan_segments
        self._clock = clock

    def verify(self) -> None:
        """Fail early, with the fix, when the tables are missing or unreachable."""
        for name in (self.tables.state, self.tables.events):
            call_aws(
                partial(self.client.describe_table, TableName=name),
                self.backoff,
                f"check of table {name!r}",
            )

    # -- append ------------------------------------------------------------------------
    def append(
        self, *writes: StreamWrite, command_id: str | None = None, fingerprint: str = ""
    ) -> Commit:
        if not writes:
            raise ValueError("append needs at least one stream write")
        seen: set[str] = set()
        for write in writes:
            _check_stream_id(write.stream_id)
            if write.stream_id in seen:
                raise ValueError(
                    f"stream {write.stream_id!r} appears twice in one append; DynamoDB cannot "
                    "write one item twice in a transaction: merge the writes"
                )
            seen.add(write.stream_id)
        versions = {w.stream_id: w.new_version for w in writes}
        actions, owners = self._actions(writes, command_id, fingerprint, versions)
        token = str(uuid.uuid4())  # AWS makes a retried transaction idempotent for 10 min
        try:
            call_aws(
                lambda: self.client.transact_write_items(
                    TransactItems=actions, ClientRequestToken=token
                ),
                self.backoff,
                "append",
            )
        except ClientError as cancelled:  # only TransactionCanceledException gets here
            return self._explain(cancelled, owners, command_id, fingerprint)
        return Commit(command_id, versions, False, fingerprint)

    def _actions(
        self,
        writes: Sequence[StreamWrite],
        command_id: str | None,
        fingerprint: str,
        versions: dict[str, int],
    ) -> tuple[list[TransactWriteItemTypeDef], list[_Owner]]:
        now = self._clock()
        actions: list[TransactWriteItemTypeDef] = []
        owners: list[_Owner] = []
        labelled: list[tuple[str, dict[str, Any]]] = []
        for write in writes:
            item = state_item(write.stream_id, write.new_version, write.state, write.fold)
            put: dict[str, Any] = {"TableName": self.tables.state, "Item": item}
            if write.expected_version == 0:
                put["ConditionExpression"] = "attribute_not_exists(stream_id)"
            else:
                # Not the seeds' "attribute_not_exists OR version = :e": that would let a
                # write expecting version 5 create a stream that does not exist.
                put["ConditionExpression"] = "#v = :expected"
                put["ExpressionAttributeNames"] = _NAMES
                put["ExpressionAttributeValues"] = {":expected": {"N": str(write.expected_version)}}
            actions.append({"Put": put})  # type: ignore[typeddict-item]
            owners.append(("state", write))
            labelled.append((f"the state of stream {write.stream_id!r}", item))
            for version, event in enumerate(write.events, start=write.expected_version + 1):
                item = event_item(write.stream_id, version, event, now)
                actions.append(
                    {
                        "Put": {
                            "TableName": self.tables.events,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(#v)",
                            "ExpressionAttributeNames": _NAMES,
                        }
                    }
                )
                owners.append(("event", write))
                labelled.append((f"event {write.stream_id}:{version} ({event.type})", item))
        if command_id is not None:
            item = command_item(command_id, fingerprint, versions, now)
            actions.append(
                {
                    "Put": {
                        "TableName": self.tables.state,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(stream_id)",
                    }
                }
            )
            owners.append(("command", None))
            labelled.append((f"the record of command {command_id!r}", item))
        check_limits(labelled)
        return actions, owners

    def _explain(
        self,
        cancelled: ClientError,
        owners: list[_Owner],
        command_id: str | None,
        fingerprint: str,
    ) -> Commit:
        """Turn a cancelled transaction into a duplicate commit or the error it means."""
        codes = cancellation_codes(cancelled)
        if command_id is not None:
            # Checked first, whatever else failed: a retry of a committed command whose
            # streams moved on since is still the earlier commit, not a conflict.
            earlier = self.find_commit(command_id)
            if earlier is not None:
                return earlier  # its fingerprint is compared by the handler
        for (kind, write), code in zip(owners, codes, strict=False):
            if code != "ConditionalCheckFailed" or write is None:
                continue
            actual = version_of(self._state_item(write.stream_id))
            if kind == "state" or actual != write.expected_version:
                raise ConcurrencyConflict(write.stream_id, write.expected_version, actual)
            raise StoreError(
                f"stream {write.stream_id!r} is at version {actual} but the events table "
                f"already holds a later event: the tables disagree, repair by hand"
            )
        message = cancelled.response.get("Error", {}).get("Message", str(cancelled))
        raise StoreError(f"DynamoDB cancelled the append: {message} (reasons: {codes})")

    # -- reads -------------------------------------------------------------------------
    def _state_item(self, key: str) -> dict[str, Any] | None:
        response = call_aws(
            lambda: self.client.get_item(
                TableName=self.tables.state, Key={"stream_id": {"S": key}}, ConsistentRead=True
            ),
            self.backoff,
            "read of the state table",
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def load(self, stream_id: str) -> Snapshot | None:
        _check_stream_id(stream_id)
        item = self._state_item(stream_id)
        return None if item is None else snapshot_of(item)

    def find_commit(self, command_id: str) -> Commit | None:
        item = self._state_item(command_key(command_id))
        return None if item is None else commit_of(item)

    def read(
        self, stream_id: str, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        _check_stream_id(stream_id)
        events: list[RecordedEvent] = []
        start_key: dict[str, Any] | None = None
        while limit is None or len(events) < limit:
            request: dict[str, Any] = {
                "TableName": self.tables.events,
                "KeyConditionExpression": "stream_id = :s AND #v > :after",
                "ExpressionAttributeNames": _NAMES,
                "ExpressionAttributeValues": {
                    ":s": {"S": stream_id},
                    ":after": {"N": str(after_version)},
                },
                "ConsistentRead": True,
            }
            sizes = [
                n
                for n in (self.page_size, None if limit is None else limit - len(events))
                if n is not None
            ]
            if sizes:
                request["Limit"] = min(sizes)
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            page = call_aws(partial(self.client.query, **request), self.backoff, "query")
            events.extend(event_of(item) for item in page.get("Items", []))
            start_key = page.get("LastEvaluatedKey")
            if start_key is None:
                break
        return events

    # -- scan --------------------------------------------------------------------------
    def scan(self) -> Generator[RecordedEvent, None, None]:
        """A parallel scan of the events table (``scan_segments`` threads).

        A stream lives in one segment, and a segment returns a stream's items together in
        sort-key (version) order, so each stream's events come out in version order; that
        is checked, and a violation is a StoreError rather than a silent misorder.
        """
        return self._parallel_scan(self._event_pages)

    def stream_versions(self) -> Generator[tuple[str, int], None, None]:
        """A parallel scan of the state table (``scan_segments`` threads), reading only
        each item's key and version; command-id items are left out."""
        return self._parallel_scan(self._version_pages)

    def _parallel_scan(self, pages_of: _PagesOf[_T]) -> Generator[_T, None, None]:
        """What ``pages_of(segment, total, stop)`` yields for every segment, each segment
        scanned by its own thread."""
        segments = self.scan_segments
        pages: queue.Queue[object] = queue.Queue(maxsize=2 * segments)
        stop = threading.Event()

        def put(item: object) -> None:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def worker(segment: int) -> None:
            try:
                for page in pages_of(segment, segments, stop):
                    put(page)
            except BaseException as error:  # handed to the consuming thread
                put(error)
            finally:
                put(_SCAN_DONE)

        threads = [
            threading.Thread(target=worker, args=(n,), daemon=True, name=f"scan-{n}")
            for n in range(segments)
        ]
        for thread in threads:
            thread.start()
        try:
            finished = 0
            while finished < segments:
                item = pages.get()
                if item is _SCAN_DONE:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield from item  # type: ignore[misc]
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=5)

    def _scan_pages(
        self, table: str, segment: int, total: int, stop: threading.Event, **extra: Any
    ) -> Iterator[list[dict[str, Any]]]:
        start_key: dict[str, Any] | None = None
        while not stop.is_set():
            request: dict[str, Any] = {
                "TableName": table,
                "Segment": segment,
                "TotalSegments": total,
                "ConsistentRead": True,
                **extra,
            }
            if self.page_size is not None:
                request["Limit"] = self.page_size
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            page = call_aws(partial(self.client.scan, **request), self.backoff, "scan")
            yield page.get("Items", [])
            start_key = page.get("LastEvaluatedKey")
            if start_key is None:
                return

    def _event_pages(
        self, segment: int, total: int, stop: threading.Event
    ) -> Iterator[list[RecordedEvent]]:
        last: tuple[str, int] | None = None
        for items in self._scan_pages(self.tables.events, segment, total, stop):
            events = [event_of(item) for item in items]
            for event in events:
                if last is not None and last[0] == event.stream_id and event.version <= last[1]:
                    raise StoreError(
                        f"scan returned {event.key} after version {last[1]}: out of order"
                    )
                last = (event.stream_id, event.version)
            yield events

    def _version_pages(
        self, segment: int, total: int, stop: threading.Event
    ) -> Iterator[list[tuple[str, int]]]:
        pages = self._scan_pages(
            self.tables.state,
            segment,
            total,
            stop,
            ProjectionExpression="stream_id, #v",
            ExpressionAttributeNames=_NAMES,
        )
        for items in pages:
            yield [
                (item["stream_id"]["S"], version_of(item))
                for item in items
                if not item["stream_id"]["S"].startswith(RESERVED_PREFIX)
            ]
