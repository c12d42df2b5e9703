"""How the DynamoDB store lays out its items, and what DynamoDB's limits allow.

Two tables, as in the seeds:

- state table ``<prefix>state``: pk ``stream_id`` (S); ``version`` (N), ``state`` (B),
  ``fold`` (S). One item per stream: the snapshot and the optimistic lock.
- events table ``<prefix>events``: pk ``stream_id`` (S), sk ``version`` (N); ``type`` (S),
  ``schema`` (N), ``data`` (B), ``metadata`` (M of S), ``recorded_at`` (S, ISO-8601 UTC).

Command ids live in the state table under the reserved key ``#command#<id>`` (no third
table to create and pay for; the item has no ``version`` so it never reads as a stream):
``command_id`` (S), ``fingerprint`` (S), ``versions`` (M of N), ``recorded_at`` (S). Stream
ids therefore must not start with ``#``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventfold.core.ports import Commit, Snapshot
from eventfold.domain.events import EventData, RecordedEvent
from eventfold.errors import StoreError, StoreLimitExceeded

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = Mapping[str, "AttributeValueTypeDef"]

COMMAND_KEY_PREFIX = "#command#"
RESERVED_PREFIX = "#"

MAX_ITEM_BYTES = 400 * 1024
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_TRANSACTION_ACTIONS = 100


@dataclass(frozen=True, slots=True)
class TableNames:
    """The store's table names: ``<prefix>state``, ``<prefix>events`` and the feeds'
    ``<prefix>checkpoints``."""

    prefix: str = "eventfold-"

    @property
    def state(self) -> str:
        return f"{self.prefix}state"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}checkpoints"


def command_key(command_id: str) -> str:
    return COMMAND_KEY_PREFIX + command_id


# -- encoding ------------------------------------------------------------------------------
def state_item(stream_id: str, version: int, state: bytes, fold: str) -> dict[str, Any]:
    return {
        "stream_id": {"S": stream_id},
        "version": {"N": str(version)},
        "state": {"B": state},
        "fold": {"S": fold},
    }


def event_item(stream_id: str, version: int, event: EventData, recorded_at: str) -> dict[str, Any]:
    return {
        "stream_id": {"S": stream_id},
        "version": {"N": str(version)},
        "type": {"S": event.type},
        "schema": {"N": str(event.schema)},
        "data": {"B": event.data},
        "metadata": {"M": {key: {"S": str(value)} for key, value in event.metadata.items()}},
        "recorded_at": {"S": recorded_at},
    }


def command_item(
    command_id: str, fingerprint: str, versions: Mapping[str, int], recorded_at: str
) -> dict[str, Any]:
    return {
        "stream_id": {"S": command_key(command_id)},
        "command_id": {"S": command_id},
        "fingerprint": {"S": fingerprint},
        "versions": {"M": {stream: {"N": str(v)} for stream, v in versions.items()}},
        "recorded_at": {"S": recorded_at},
    }


# -- decoding ------------------------------------------------------------------------------
def _text(item: Item, name: str) -> str:
    value = item.get(name, {}).get("S")
    if value is None:
        raise StoreError(f"DynamoDB item lacks string attribute {name!r}: {dict(item)!r:.200}")
    return value


def _number(item: Item, name: str) -> int:
    value = item.get(name, {}).get("N")
    if value is None:
        raise StoreError(f"DynamoDB item lacks number attribute {name!r}: {dict(item)!r:.200}")
    return int(Decimal(value))


def _binary(item: Item, name: str) -> bytes:
    value = item.get(name, {}).get("B")
    if value is None:
        raise StoreError(f"DynamoDB item lacks binary attribute {name!r}: {dict(item)!r:.200}")
    return bytes(value)


def snapshot_of(item: Item) -> Snapshot:
    return Snapshot(_number(item, "version"), _binary(item, "state"), _text(item, "fold"))


def version_of(item: Item | None) -> int:
    """The stream version a state item records (0 for a missing item)."""
    return 0 if not item else _number(item, "version")


def event_of(item: Item) -> RecordedEvent:
    metadata = item.get("metadata", {})
    if "M" in metadata:
        plain = {key: value.get("S", "") for key, value in metadata["M"].items()}
    else:  # written by another tool as a JSON string
        plain = json.loads(metadata.get("S", "{}"))
    return RecordedEvent(
        stream_id=_text(item, "stream_id"),
        version=_number(item, "version"),
        type=_text(item, "type"),
        data=_binary(item, "data"),
        schema=_number(item, "schema"),
        metadata=plain,
        recorded_at=datetime.fromisoformat(_text(item, "recorded_at")),
    )


def commit_of(item: Item) -> Commit:
    versions = {stream: int(Decimal(v["N"])) for stream, v in item["versions"]["M"].items()}
    fingerprint = item.get("fingerprint", {}).get("S", "")
    return Commit(_text(item, "command_id"), versions, True, fingerprint)


# -- sizes and limits ----------------------------------------------------------------------
def value_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its documented sizing rules).

    Numbers are counted at their upper bound (1 byte per 2 significant digits + 1, plus
    one for the sign and exponent) so the check never lets an oversized item through.
    """
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind in ("SS", "BS", "NS"):
        return sum(value_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it: attribute names (UTF-8) + values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def check_limits(items: Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]]) -> None:
    """Refuse, before calling DynamoDB, a transaction it would reject for its size.

    ``items``: (what the item is, for the message; the item) for every action.
    """
    if len(items) > MAX_TRANSACTION_ACTIONS:
        raise StoreLimitExceeded(
            f"this append needs {len(items)} DynamoDB write actions (one per stream, one per "
            f"event, one for the command id); a transaction allows {MAX_TRANSACTION_ACTIONS}: "
            "decide fewer events per command"
        )
    total = 0
    for label, item in items:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise StoreLimitExceeded(
                f"{label} is {size} bytes; DynamoDB items are limited to {MAX_ITEM_BYTES} "
                "bytes (400 KB): keep large payloads elsewhere (e.g. S3) and store a reference"
            )
        total += size
    if total > MAX_TRANSACTION_BYTES:
        raise StoreLimitExceeded(
            f"this append writes {total} bytes; a DynamoDB transaction is limited to "
            f"{MAX_TRANSACTION_BYTES} bytes (4 MB): decide fewer or smaller events per command"
        )
