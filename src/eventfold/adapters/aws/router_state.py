"""The router's state in the ``<prefix>checkpoints`` table: for routers without a local disk
(Lambda, containers), next to the DynamoDB store.

One class serves the three ports on one table. Items (pk ``scope``, sk ``key``):

- ``checkpoint`` / ``<subscription>`` (:class:`Checkpoints`): ``checkpoint`` (S) — moved
  with a condition on the value read, so a rebuild or an operator moving it makes the
  runner reload;
- ``versions#<subscription>`` / ``<stream id>`` (:class:`AppliedVersions`): ``version`` (N),
  only ever raised;
- ``parked#<subscription>`` / ``<stream id>`` (:class:`ParkingLot`): ``reason``,
  ``parked_at``, ``parks`` (a counter: unpark removes the marker only if nothing was parked
  since it looked);
- ``parked-events:["<subscription>","<stream id>"]`` / ``<version, 20 digits>``: the
  waiting events, in the events table's attribute layout plus ``position``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eventfold.adapters.aws.dynamodb_items import TableNames, event_item, event_of
from eventfold.adapters.aws.errors import Backoff, call_aws, error_code
from eventfold.core.router.ports import BEGINNING, ParkedStream
from eventfold.domain.events import EventData, RecordedEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"


def _versions_scope(subscription: str) -> str:
    return f"versions#{subscription}"


def _parked_scope(subscription: str) -> str:
    return f"parked#{subscription}"


def _events_scope(subscription: str, stream_id: str) -> str:
    return "parked-events:" + json.dumps([subscription, stream_id])


def _key(scope: str, key: str) -> dict[str, Any]:
    return {"scope": {"S": scope}, "key": {"S": key}}


class DynamoDBRouterState:
    """The Checkpoints, AppliedVersions and ParkingLot ports on DynamoDB. Thread-safe (the
    boto3 client is)."""

    def __init__(
        self,
        client: DynamoDBClient,
        tables: TableNames | None = None,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.table = (tables or TableNames()).checkpoints
        self.backoff = backoff or Backoff()

    def _call(self, operation: str, **request: Any) -> Any:
        method = getattr(self.client, operation)
        return call_aws(partial(method, **request), self.backoff, f"{operation} on {self.table}")

    def _conditional(self, operation: str, **request: Any) -> bool:
        """The call; False when its condition failed."""
        try:
            call_aws(
                partial(getattr(self.client, operation), **request),
                self.backoff,
                f"{operation} on {self.table}",
                passthrough=frozenset({_CONDITION_FAILED}),
            )
        except ClientError as error:
            if error_code(error) != _CONDITION_FAILED:
                raise
            return False
        return True

    def _query(self, scope: str, **extra: Any) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "scope"},
            "ExpressionAttributeValues": {":s": {"S": scope}},
            "ConsistentRead": True,
            **extra,
        }
        return self._items("query", request)

    def _keys(self, scope: str) -> list[str]:
        """The sort keys of ``scope``'s items, in order."""
        found = self._query(
            scope, ProjectionExpression="#k", ExpressionAttributeNames={"#s": "scope", "#k": "key"}
        )
        return [item["key"]["S"] for item in found]

    def _items(self, operation: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The items of every page a Query or Scan ``request`` returns."""
        while True:
            page = self._call(operation, **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- checkpoints -------------------------------------------------------------------
    def checkpoint(self, subscription: str) -> str:
        item = self._call(
            "get_item",
            TableName=self.table,
            Key=_key("checkpoint", subscription),
            ConsistentRead=True,
        ).get("Item")
        return BEGINNING if item is None else str(item["checkpoint"]["S"])

    def advance(self, subscription: str, expected: str, checkpoint: str) -> bool:
        condition = "#c = :expected"
        if expected == BEGINNING:
            condition = "attribute_not_exists(#c) OR " + condition
        return self._conditional(
            "update_item",
            TableName=self.table,
            Key=_key("checkpoint", subscription),
            UpdateExpression="SET #c = :new",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#c": "checkpoint"},
            ExpressionAttributeValues={":new": {"S": checkpoint}, ":expected": {"S": expected}},
        )

    def reset(self, subscription: str, checkpoint: str) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item={**_key("checkpoint", subscription), "checkpoint": {"S": checkpoint}},
        )

    def subscriptions(self) -> dict[str, str]:
        """Every subscription with a checkpoint, and that checkpoint (for operators)."""
        return {i["key"]["S"]: i["checkpoint"]["S"] for i in self._query("checkpoint")}

    # -- applied versions --------------------------------------------------------------
    def applied_versions(self, subscription: str, stream_ids: Collection[str]) -> dict[str, int]:
        scope = _versions_scope(subscription)
        ids = list(dict.fromkeys(stream_ids))
        found: dict[str, int] = {}
        for start in range(0, len(ids), 100):
            keys = [_key(scope, stream) for stream in ids[start : start + 100]]
            while keys:
                response = self._call(
                    "batch_get_item",
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}},
                )
                for item in response.get("Responses", {}).get(self.table, []):
                    found[item["key"]["S"]] = int(item["version"]["N"])
                keys = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found

    def record_applied(self, subscription: str, versions: Mapping[str, int]) -> None:
        """Only versions above the recorded ones are written. Raising a recorded version is
        a conditional update (a concurrent higher write, an operator's skip, is never
        lowered); a stream's first version goes in batches of 25 (BatchWriteItem has no
        conditions: a skip racing the very first record of a stream could be lost)."""
        scope = _versions_scope(subscription)
        known = self.applied_versions(subscription, versions)
        first = [
            {"PutRequest": {"Item": {**_key(scope, stream_id), "version": {"N": str(version)}}}}
            for stream_id, version in versions.items()
            if stream_id not in known
        ]
        self._write_batch(first)
        for stream_id, version in versions.items():
            if stream_id in known and version > known[stream_id]:
                self._conditional(
                    "update_item",
                    TableName=self.table,
                    Key=_key(scope, stream_id),
                    UpdateExpression="SET #v = :v",
                    ConditionExpression="#v < :v",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={":v": {"N": str(version)}},
                )

    # -- parking lot -------------------------------------------------------------------
    def park(
        self, subscription: str, stream_id: str, events: Sequence[RecordedEvent], reason: str
    ) -> None:
        scope = _events_scope(subscription, stream_id)
        # Events first: whoever sees the marker also sees what waits behind it.
        self._write_batch([{"PutRequest": {"Item": _parked_item(scope, e)}} for e in events])
        self._call(
            "update_item",
            TableName=self.table,
            Key=_key(_parked_scope(subscription), stream_id),
            UpdateExpression="SET reason = if_not_exists(reason, :r), "
            "parked_at = if_not_exists(parked_at, :t) ADD parks :one",
            ExpressionAttributeValues={
                ":r": {"S": reason},
                ":t": {"S": datetime.now(UTC).isoformat()},
                ":one": {"N": "1"},
            },
        )

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending = requests[start : start + 25]
            while pending:
                response = self._call("batch_write_item", RequestItems={self.table: pending})
                pending = response.get("UnprocessedItems", {}).get(self.table, [])

    def parked_streams(self, subscription: str) -> set[str]:
        return set(self._keys(_parked_scope(subscription)))

    def list_parked(self, subscription: str | None = None) -> list[ParkedStream]:
        if subscription is not None:
            markers = [(subscription, m) for m in self._query(_parked_scope(subscription))]
        else:
            markers = [
                (m["scope"]["S"].removeprefix("parked#"), m) for m in self._scan_parked_markers()
            ]
        parked = []
        for sub, marker in markers:
            stream_id = marker["key"]["S"]
            versions = [int(key) for key in self._keys(_events_scope(sub, stream_id))]
            parked.append(
                ParkedStream(
                    subscription=sub,
                    stream_id=stream_id,
                    reason=marker["reason"]["S"],
                    parked_at=datetime.fromisoformat(marker["parked_at"]["S"]),
                    first_version=min(versions, default=0),
                    last_version=max(versions, default=0),
                    count=len(versions),
                )
            )
        return sorted(parked, key=lambda p: (p.parked_at, p.stream_id))

    def _scan_parked_markers(self) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(#s, :p)",
            "ExpressionAttributeNames": {"#s": "scope"},
            "ExpressionAttributeValues": {":p": {"S": "parked#"}},
            "ConsistentRead": True,
        }
        return self._items("scan", request)

    def parked_events(self, subscription: str, stream_id: str) -> list[RecordedEvent]:
        return [_event_of_parked(i) for i in self._query(_events_scope(subscription, stream_id))]

    def unpark(self, subscription: str, stream_id: str, through_version: int) -> bool:
        marker_key = _key(_parked_scope(subscription), stream_id)
        marker = self._call(
            "get_item", TableName=self.table, Key=marker_key, ConsistentRead=True
        ).get("Item")
        scope = _events_scope(subscription, stream_id)
        keys = self._keys(scope)
        done = [k for k in keys if int(k) <= through_version]
        self._write_batch([{"DeleteRequest": {"Key": _key(scope, k)}} for k in done])
        if len(done) < len(keys):
            return False
        if marker is None:
            return True
        return self._conditional(
            "delete_item",
            TableName=self.table,
            Key=marker_key,
            ConditionExpression="parks = :seen",
            ExpressionAttributeValues={":seen": marker["parks"]},
        )


def _parked_item(scope: str, event: RecordedEvent) -> dict[str, Any]:
    data = EventData(event.type, event.data, event.schema, event.metadata)
    item = event_item(event.stream_id, event.version, data, event.recorded_at.isoformat())
    item.update(_key(scope, f"{event.version:020d}"))
    if event.position is not None:
        item["position"] = {"N": str(event.position)}
    return item


def _event_of_parked(item: Mapping[str, Any]) -> RecordedEvent:
    event = event_of(item)
    if "position" not in item:
        return event
    return RecordedEvent(
        event.stream_id,
        event.version,
        event.type,
        event.data,
        event.schema,
        event.metadata,
        event.recorded_at,
        int(item["position"]["N"]),
    )
