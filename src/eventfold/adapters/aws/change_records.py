"""Change records of the events table, as AWS delivers them in JSON, -> RecordedEvent.

Two shapes carry the same DynamoDB item (the event item of
:mod:`eventfold.adapters.aws.dynamodb_items`) in DynamoDB JSON, binary values base64:

- Kinesis Data Streams for DynamoDB: each Kinesis record's data is a JSON document
  ``{"awsRegion", "eventID", "eventName": "INSERT"|"MODIFY"|"REMOVE", "userIdentity",
  "recordFormat": "application/json", "tableName", "dynamodb": {"ApproximateCreationDateTime",
  "Keys", "NewImage", "SizeBytes"}, "eventSource": "aws:dynamodb"}``. Records of one stream
  may arrive out of order and more than once; the router's version check makes that harmless.
- a DynamoDB Streams record in a Lambda event: ``{"eventName", "eventSource":
  "aws:dynamodb", "eventSourceARN": "arn:...:table/<name>/stream/<label>", "dynamodb":
  {"Keys", "NewImage", "SequenceNumber", "SizeBytes", "StreamViewType"}}``.

Removals, and records of other tables when the events table is named, are not events:
:func:`event_of_change` returns None for them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from eventfold.adapters.aws.dynamodb_items import event_of
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError, StoreError

EVENT_NAMES_WITH_AN_IMAGE = frozenset({"INSERT", "MODIFY"})


def item_from_json(image: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB-JSON image as boto3 returns items: base64 ``B``/``BS`` values as bytes."""
    return {name: _value(value) for name, value in image.items()}


def _value(value: Mapping[str, Any]) -> dict[str, Any]:
    try:
        (kind, inner), *_ = value.items()
    except ValueError:
        raise StoreError(f"empty DynamoDB attribute value: {dict(value)!r}") from None
    try:
        if kind == "B":
            return {"B": base64.b64decode(inner, validate=True)}
        if kind == "BS":
            return {"BS": [base64.b64decode(v, validate=True) for v in inner]}
    except (binascii.Error, TypeError, ValueError) as exc:
        raise StoreError(f"binary attribute is not base64: {exc}") from exc
    if kind == "M":
        return {"M": item_from_json(inner)}
    if kind == "L":
        return {"L": [_value(v) for v in inner]}
    return {kind: inner}


def table_of_stream_arn(arn: str) -> str | None:
    """``arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`` -> ``<name>``."""
    _, found, rest = arn.partition(":table/")
    return rest.split("/", 1)[0] if found else None


def event_of_change(
    change: Mapping[str, Any], events_table: str | None, *, table: str | None = None
) -> RecordedEvent | None:
    """The event a change record carries; None for removals and other tables' records.

    ``table`` is the record's table when the caller knows it from outside the record (a
    Lambda event's ``eventSourceARN``); Kinesis records name it as ``tableName``.
    Raises StoreError for a record that is not an event item, ConfigurationError when the
    record has no new image (the stream's view type must include it).
    """
    if change.get("eventName") not in EVENT_NAMES_WITH_AN_IMAGE:
        return None
    table = table or change.get("tableName")
    if events_table is not None and table is not None and table != events_table:
        return None
    dynamodb = change.get("dynamodb")
    if not isinstance(dynamodb, Mapping):
        raise StoreError(f"change record has no 'dynamodb' object: {dict(change)!r:.200}")
    image = dynamodb.get("NewImage")
    if image is None:
        raise ConfigurationError(
            f"change records of table {table or '?'} carry no NewImage: set the stream view "
            "type to NEW_IMAGE (or NEW_AND_OLD_IMAGES)"
        )
    return event_of(item_from_json(image))


def kinesis_change(data: bytes) -> Mapping[str, Any]:
    """The change record a Kinesis record's (already base64-decoded) data holds."""
    try:
        change = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"Kinesis record is not a JSON change record ({exc})") from exc
    if not isinstance(change, dict):
        raise StoreError("Kinesis record is not a JSON object")
    return change
