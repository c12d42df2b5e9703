"""The reservation service's published language: its events as Protocol Buffers.

The contract is ``proto/eventfold/reservations/v1/events.proto`` (one ``Event`` envelope
with a ``oneof body`` case per event dataclass of :mod:`reservations.domain.events`, same
field names). The Python module beside it is generated at install time (``make proto``),
never committed. :data:`PROTOBUF_CODEC` stores and publishes the events in it.
"""

from __future__ import annotations

from pathlib import Path

from eventfold.codecs import ProtobufCodec
from reservations.domain.events import EVENT_TYPES
from reservations.proto.eventfold.reservations.v1 import events_pb2

PROTO_ROOT = Path(__file__).parent / "proto"
"""The folder other languages point ``protoc`` at (``-I``)."""

ENVELOPE = events_pb2.Event
MESSAGE_TYPE = ENVELOPE.DESCRIPTOR.full_name  # "eventfold.reservations.v1.Event"

PROTOBUF_CODEC = ProtobufCodec(EVENT_TYPES, ENVELOPE)
