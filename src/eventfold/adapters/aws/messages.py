"""Events as SQS / SNS messages, and back.

A message's body is the event as the subscription publishes it (:mod:`eventfold.adapters.
codecs.outbound`): the JSON envelope as is, or the protobuf envelope base64-encoded. Message
attributes say what the body is and which event it carries, so a consumer can route, filter
(SNS subscription filter policies) and order without opening the body:

=============  ======  =====================================================
``content_type``  String  ``application/json`` or ``application/x-protobuf; messageType=…``
``stream_id``     String  the event's stream
``category``      String  the stream's category (``reservation``)
``version``       Number  the event's version in its stream
``type``          String  the event's registered name (current schema)
``schema``        Number  the schema the body is at (always the current one)
``recorded_at``   String  ISO 8601, UTC
``metadata``      String  the event's metadata as a JSON object
=============  ======  =====================================================

Eight of the ten attributes SQS and SNS allow. :func:`event_of_message` turns such a message
back into a :class:`RecordedEvent` whose ``data`` the service's codec decodes (the protobuf
envelope as is, or the JSON envelope's body case as a JSON object, marked by the
``content_type`` metadata key) — the SQS feed and the SQS Lambda handler use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventfold.adapters.protobuf.codec import PROTOBUF_CONTENT_TYPE
from eventfold.adapters.protobuf.outbound import (
    OutboundFormat,
    encode_outbound,
    outbound_text,
    snake_case,
)
from eventfold.domain.codecs import JSON_CONTENT_TYPE, EventCodec
from eventfold.domain.events import CONTENT_TYPE, RecordedEvent
from eventfold.errors import CodecError

MAX_MESSAGE_BYTES = 256 * 1024
"""SQS and SNS limit a message (body + attributes) and a whole batch to 256 KiB."""
MAX_BATCH_ENTRIES = 10
_FIFO_ID = re.compile(r"^[!-~]{1,128}$")  # printable ASCII without spaces
_ENVELOPE_FIELDS = frozenset({"stream_id", "version", "recorded_at", "metadata"})
NUMBER_ATTRIBUTES = frozenset({"version", "schema"})


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One event, ready for SendMessageBatch / PublishBatch."""

    event: RecordedEvent
    body: str
    attributes: Mapping[str, str]

    def api_attributes(self) -> dict[str, Any]:
        """The attributes in the SQS/SNS API shape (``DataType`` + ``StringValue``)."""
        return {
            name: {
                "DataType": "Number" if name in NUMBER_ATTRIBUTES else "String",
                "StringValue": value,
            }
            for name, value in self.attributes.items()
        }

    @property
    def size(self) -> int:
        """Bytes SQS/SNS count: the body plus each attribute's name, type and value."""
        attributes = sum(
            len(name.encode()) + len(value.encode()) + 6 for name, value in self.attributes.items()
        )
        return len(self.body.encode()) + attributes


def outbound_message(
    codec: EventCodec, event: RecordedEvent, fmt: OutboundFormat | str
) -> OutboundMessage:
    """The message for ``event``. Raises CodecError / UnknownEventType when it cannot be
    decoded (the router parks the stream), ConfigurationError for an impossible format."""
    body, content_type = encode_outbound(codec, event, fmt)
    current = codec.types.named(event.type)
    attributes = {
        "content_type": content_type,
        "stream_id": event.stream_id,
        "category": event.category,
        "version": str(event.version),
        "type": current.name,
        "schema": str(current.schema),
        "recorded_at": event.recorded_at.isoformat(),
        "metadata": json.dumps(dict(event.metadata), separators=(",", ":"), sort_keys=True),
    }
    return OutboundMessage(event, outbound_text(body, content_type), attributes)


def fifo_id(value: str) -> str:
    """``value`` as a FIFO MessageGroupId / MessageDeduplicationId: as is when it fits (up
    to 128 printable ASCII characters), else its SHA-256 in hex (64 characters)."""
    if _FIFO_ID.match(value):
        return value
    return hashlib.sha256(value.encode()).hexdigest()


def batches(messages: Sequence[OutboundMessage]) -> Iterator[list[OutboundMessage]]:
    """The messages in batches of at most 10 and 256 KiB, each holding at most ONE event
    per stream, in stream order: when AWS refuses an event, no later event of its stream
    has been sent (the router parks the stream with them all still waiting)."""
    waiting: dict[str, deque[OutboundMessage]] = {}
    for message in messages:
        waiting.setdefault(message.event.stream_id, deque()).append(message)
    while waiting:
        batch: list[OutboundMessage] = []
        size = 0
        for stream_id in list(waiting):
            message = waiting[stream_id][0]
            if batch and (
                len(batch) == MAX_BATCH_ENTRIES or size + message.size > MAX_MESSAGE_BYTES
            ):
                break
            rest = waiting.pop(stream_id)  # re-inserted last: streams take turns
            batch.append(rest.popleft())
            size += message.size
            if rest:
                waiting[stream_id] = rest
        yield batch


# -- back into events ----------------------------------------------------------------------
def event_of_message(body: str, attributes: Mapping[str, str]) -> RecordedEvent:
    """The event a message carries. ``attributes``: attribute name -> string value.

    Raises CodecError when the message is not one of these (attributes missing, body not
    what ``content_type`` says).
    """
    missing = [
        name
        for name in ("content_type", "stream_id", "version", "type", "schema", "recorded_at")
        if name not in attributes
    ]
    if missing:
        raise CodecError(f"message lacks the attributes {', '.join(missing)}")
    content_type = attributes["content_type"]
    try:
        stream_id = attributes["stream_id"]
        version = int(attributes["version"])
        schema = int(attributes["schema"])
        recorded_at = datetime.fromisoformat(attributes["recorded_at"])
        metadata = json.loads(attributes.get("metadata", "{}"))
    except (ValueError, json.JSONDecodeError) as exc:
        raise CodecError(f"message attributes are malformed: {exc}") from exc
    if not isinstance(metadata, dict):
        raise CodecError("message attribute 'metadata' is not a JSON object")
    key = f"{stream_id}:{version}"
    if content_type.startswith(PROTOBUF_CONTENT_TYPE):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CodecError(f"{key}: protobuf body is not base64 ({exc})") from exc
    elif content_type.startswith(JSON_CONTENT_TYPE):
        data = _json_body(key, body, attributes["type"])
        content_type = JSON_CONTENT_TYPE
    else:
        raise CodecError(f"{key}: unknown content type {content_type!r}")
    metadata = {str(k): str(v) for k, v in metadata.items()}
    metadata[CONTENT_TYPE] = content_type
    return RecordedEvent(
        stream_id, version, attributes["type"], data, schema, metadata, recorded_at
    )


def _json_body(key: str, body: str, event_type: str) -> bytes:
    """The JSON envelope's body case (named after the event type), as stored JSON."""
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError as exc:
        raise CodecError(f"{key}: body is not JSON ({exc})") from exc
    if not isinstance(envelope, dict):
        raise CodecError(f"{key}: body is not a JSON object")
    case = snake_case(event_type)
    if case not in envelope:
        others = [k for k in envelope if k not in _ENVELOPE_FIELDS]
        if len(others) != 1:
            raise CodecError(f"{key}: the envelope has no body case {case!r}")
        case = others[0]
    payload = envelope[case]
    if not isinstance(payload, dict):
        raise CodecError(f"{key}: the envelope's {case!r} is not a JSON object")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sqs_api_attributes(message: Mapping[str, Any]) -> dict[str, str]:
    """ReceiveMessage's ``MessageAttributes`` (``StringValue``) as name -> value."""
    found: Mapping[str, Any] = message.get("MessageAttributes") or {}
    return {name: str(v.get("StringValue", "")) for name, v in found.items()}


def lambda_sqs_attributes(record: Mapping[str, Any]) -> dict[str, str]:
    """An SQS Lambda event record's ``messageAttributes`` (``stringValue``) as name -> value."""
    found: Mapping[str, Any] = record.get("messageAttributes") or {}
    return {name: str(v.get("stringValue", "")) for name, v in found.items()}


def unwrap_sns(body: str, attributes: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """An SNS notification delivered to SQS without raw message delivery wraps the message:
    ``{"Type": "Notification", "Message": …, "MessageAttributes": {name: {"Type", "Value"}}}``.
    Returns the inner body and attributes; other messages come back unchanged."""
    if "stream_id" in attributes or not body.startswith("{"):
        return body, dict(attributes)
    try:
        outer = json.loads(body)
    except json.JSONDecodeError:
        return body, dict(attributes)
    if not isinstance(outer, dict) or outer.get("Type") != "Notification":
        return body, dict(attributes)
    inner = {
        name: str(v.get("Value", "")) for name, v in (outer.get("MessageAttributes") or {}).items()
    }
    return str(outer.get("Message", "")), inner
