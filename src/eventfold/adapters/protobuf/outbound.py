"""What a subscription sends outside (webhooks, SQS/SNS): protobuf or JSON, as configured.

``encode_outbound(codec, event, fmt)`` returns the body bytes and a content type that says
which. Both formats carry the same envelope: stream id, version, time, metadata, and the
event under its ``body`` case (e.g. ``reservation_accepted``), always at the current schema.

- ``protobuf``: the serialized envelope; content type
  ``application/x-protobuf; messageType=<envelope full name>``. Text transports (SQS, SNS)
  carry it base64-encoded (:func:`outbound_text`).
- ``json``: the envelope in the proto3 JSON mapping with the ``.proto`` field names;
  content type ``application/json``. A service still on the JSON codec publishes the same
  shape, its body case named after the event type in snake_case.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from google.protobuf.message import Message

from eventfold.adapters.protobuf.codec import PROTOBUF_CONTENT_TYPE
from eventfold.domain.codecs import JSON_CONTENT_TYPE, EventCodec, to_plain
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError


class OutboundFormat(StrEnum):
    """How a subscription encodes the events it sends out."""

    PROTOBUF = "protobuf"
    JSON = "json"


@runtime_checkable
class PublishesEnvelopes(Protocol):
    """A codec that can build the full published envelope (the protobuf codec)."""

    message_type: str

    def envelope_of(self, event: RecordedEvent) -> Message: ...

    def envelope_json(self, event: RecordedEvent) -> dict[str, Any]: ...


def outbound_format(value: str) -> OutboundFormat:
    """Parse a configured format, with an error that lists the valid ones."""
    try:
        return OutboundFormat(value.strip().lower())
    except ValueError:
        valid = ", ".join(f.value for f in OutboundFormat)
        raise ConfigurationError(f"unknown outbound format {value!r}: use one of {valid}") from None


def encode_outbound(
    codec: EventCodec, event: RecordedEvent, fmt: OutboundFormat | str
) -> tuple[bytes, str]:
    """The body and content type of ``event`` as a subscription publishes it.

    Raises ConfigurationError when ``protobuf`` is asked of a codec without an envelope,
    CodecError / UnknownEventType when the event cannot be decoded (the router parks it).
    """
    fmt = outbound_format(fmt) if isinstance(fmt, str) else fmt
    if isinstance(codec, PublishesEnvelopes):
        if fmt is OutboundFormat.PROTOBUF:
            body = codec.envelope_of(event).SerializeToString(deterministic=True)
            return body, f"{PROTOBUF_CONTENT_TYPE}; messageType={codec.message_type}"
        return _json_bytes(codec.envelope_json(event)), JSON_CONTENT_TYPE
    if fmt is OutboundFormat.PROTOBUF:
        raise ConfigurationError(
            f"outbound format 'protobuf' needs a protobuf codec, but events of "
            f"{event.category!r} use {type(codec).__name__}: configure 'json' for this "
            "subscription or give the service a ProtobufCodec"
        )
    envelope = {
        "stream_id": event.stream_id,
        "version": event.version,
        "recorded_at": event.recorded_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "metadata": dict(event.metadata),
        snake_case(event.type): to_plain(codec.decode(event)),
    }
    return _json_bytes(envelope), JSON_CONTENT_TYPE


def outbound_text(body: bytes, content_type: str) -> str:
    """The body for a text-only transport (SQS, SNS): JSON as is, protobuf base64."""
    if content_type.startswith(PROTOBUF_CONTENT_TYPE):
        return base64.b64encode(body).decode("ascii")
    return body.decode("utf-8")


def snake_case(name: str) -> str:
    """``ReservationAccepted`` -> ``reservation_accepted`` (the ``body`` case name)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
