"""Domain events as Protocol Buffers: the published language other teams build on.

A :class:`ProtobufCodec` is driven by one envelope message (stream id, version, time,
metadata and a ``oneof body`` with a case per event) and a mapping from event dataclasses to
body messages (by default: the message whose name is the event's registered name). Domain
code keeps its dataclasses; the ``.proto`` files are the contract.

Framing in the event store: ``data`` is the envelope with only ``body`` set (stream id,
version and time are the row's own columns). :meth:`ProtobufCodec.envelope_of` fills in the
rest for publishing. Upcasters see the same plain dict as with the JSON codec: a retyped
field keeps its old number under a new name (``quantity_v1``) and the upcaster moves it.
Events an older deployment stored as JSON (metadata ``content_type`` application/json)
still decode, through the same upcasters.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, EncodeError, Message

from eventfold.domain.codecs import (
    JSON_CONTENT_TYPE,
    JsonCodec,
    RecentDecodes,
    from_plain,
    to_plain,
)
from eventfold.domain.events import (
    CONTENT_TYPE,
    EventData,
    EventType,
    EventTypes,
    Payload,
    RecordedEvent,
)
from eventfold.errors import CodecError, ConfigurationError

PROTOBUF_CONTENT_TYPE = "application/x-protobuf"
TIMESTAMP = "google.protobuf.Timestamp"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EnvelopeFields:
    """Names of the envelope's fields (the defaults match eventfold's own ``.proto`` files;
    the seed's ``OrderEvent`` would be ``EnvelopeFields(stream_id="order_id",
    recorded_at="created_at", metadata=None)``). ``None``: the envelope has no such field."""

    stream_id: str = "stream_id"
    version: str = "version"
    recorded_at: str | None = "recorded_at"
    metadata: str | None = "metadata"
    body: str = "body"


class ProtobufCodec:
    """Encodes registered event dataclasses as envelope messages and back.

    ``messages`` maps an event class to its body message class; events left out are matched
    by name with the envelope's ``body`` cases. Every registered event needs a case and
    every dataclass field a message field of the same name, else ConfigurationError.
    """

    content_type = PROTOBUF_CONTENT_TYPE

    def __init__(
        self,
        types: EventTypes,
        envelope: type[Message],
        messages: Mapping[type, type[Message]] | None = None,
        *,
        envelope_fields: EnvelopeFields | None = None,
    ) -> None:
        self.types = types
        self.envelope = envelope
        self.fields = envelope_fields or EnvelopeFields()
        self.message_type = envelope.DESCRIPTOR.full_name
        self._json = JsonCodec(types)  # reads what an older deployment stored as JSON
        self._recent = RecentDecodes()
        self._case_of: dict[type, str] = {}
        # Events whose fields are all scalars or timestamps skip the plain-dict detour.
        self._direct: dict[type, tuple[tuple[str, bool], ...]] = {}
        self._check_envelope()
        cases = self._body_cases()
        explicit = dict(messages or {})
        problems: list[str] = []
        for entry in types:
            wanted = explicit.get(entry.cls)
            name = wanted.DESCRIPTOR.full_name if wanted else None
            case = next(
                (
                    c
                    for c, d in cases.items()
                    if (d.full_name == name if name else d.name == entry.name)
                ),
                None,
            )
            if case is None:
                problems.append(
                    f"{entry.name}: no case of {self.message_type}.{self.fields.body} "
                    f"holds {name or 'a message named ' + entry.name}"
                )
                continue
            problems += _missing_fields(entry.cls, cases[case])
            self._case_of[entry.cls] = case
            plan = _direct_plan(entry.cls, cases[case])
            if plan is not None:
                self._direct[entry.cls] = plan
        if problems:
            raise ConfigurationError("protobuf codec: " + "; ".join(problems))

    # -- EventCodec --------------------------------------------------------------------
    def encode(self, event: object, metadata: Mapping[str, str] | None = None) -> EventData:
        entry = self.types.of(event)
        envelope = self._envelope_with_body(event, entry)
        # Only map fields can serialize in varying order, and events on the direct plan
        # (scalars and timestamps) have none: skip the slower deterministic mode for them.
        deterministic = entry.cls not in self._direct
        return EventData(
            entry.name,
            envelope.SerializeToString(deterministic=deterministic),
            entry.schema,
            dict(metadata or {}),
        )

    def decode(self, event: RecordedEvent) -> object:
        return self._recent.decode(event, self._decode)

    def _decode(self, event: RecordedEvent) -> object:
        entry = self.types.named(event.type)
        plan = self._direct.get(entry.cls)
        if plan is not None and event.schema == entry.schema and not _stored_as_json(event):
            body = self._stored_body(event)
            # The plan lists every field in declaration order: positional arguments.
            values = [
                _timestamp_to_datetime(getattr(body, name)) if stamp else getattr(body, name)
                for name, stamp in plan
            ]
            try:
                return entry.cls(*values)
            except (TypeError, ValueError) as exc:
                raise CodecError(f"{event.key}: cannot build a {entry.name} ({exc})") from exc
        entry, payload = self.types.upcast(event.type, event.schema, self._plain(event))
        try:
            return from_plain(entry.cls, payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError(f"{event.key}: cannot build a {entry.name} ({exc})") from exc

    def to_json(self, event: RecordedEvent) -> dict[str, Any]:
        """The stored payload in the proto3 JSON mapping (original field names)."""
        if _stored_as_json(event):
            return self._json.to_json(event)
        return proto3_json(self._stored_body(event))

    # -- publishing ----------------------------------------------------------------------
    def envelope_of(self, event: RecordedEvent) -> Message:
        """The full envelope of a recorded event as published: stream id, version, time,
        metadata, and the body at the CURRENT schema (old payloads are upcast first)."""
        domain_event = self.decode(event)
        envelope = self._envelope_with_body(domain_event, self.types.of(domain_event))
        try:
            setattr(envelope, self.fields.stream_id, event.stream_id)
            setattr(envelope, self.fields.version, event.version)
        except ValueError as exc:
            raise CodecError(f"{event.key}: does not fit the envelope ({exc})") from exc
        if self.fields.recorded_at:
            stamp = getattr(envelope, self.fields.recorded_at)
            stamp.FromDatetime(event.recorded_at.astimezone(UTC))
        if self.fields.metadata:
            getattr(envelope, self.fields.metadata).update(event.metadata)
        return envelope

    def envelope_json(self, event: RecordedEvent) -> dict[str, Any]:
        """:meth:`envelope_of` in the proto3 JSON mapping (original field names)."""
        return proto3_json(self.envelope_of(event))

    # -- internals -------------------------------------------------------------------------
    def _check_envelope(self) -> None:
        descriptor = self.envelope.DESCRIPTOR
        f = self.fields
        names = [n for n in (f.stream_id, f.version, f.recorded_at, f.metadata) if n]
        missing = [n for n in names if n not in descriptor.fields_by_name]
        if f.body not in descriptor.oneofs_by_name:
            missing.append(f"oneof {f.body}")
        if missing:
            raise ConfigurationError(
                f"protobuf codec: envelope {descriptor.full_name} has no {', '.join(missing)}; "
                "name its fields with EnvelopeFields(...)"
            )

    def _body_cases(self) -> dict[str, Descriptor]:
        oneof = self.envelope.DESCRIPTOR.oneofs_by_name[self.fields.body]
        return {f.name: f.message_type for f in oneof.fields if f.message_type is not None}

    def _envelope_with_body(self, event: object, entry: EventType) -> Message:
        case = self._case_of.get(entry.cls)
        if case is None:
            raise CodecError(f"{entry.name} has no case in {self.message_type}")
        envelope = self.envelope()
        body = getattr(envelope, case)
        plan = self._direct.get(entry.cls)
        try:
            if plan is not None:
                _fill_direct(body, event, plan)
            else:
                plain_to_message(to_plain(event), body)
        except (json_format.ParseError, EncodeError, TypeError, ValueError) as exc:
            message = body.DESCRIPTOR.full_name
            raise CodecError(f"{entry.name} does not fit {message}: {exc}") from exc
        body.SetInParent()
        return envelope

    def _plain(self, event: RecordedEvent) -> Payload:
        if _stored_as_json(event):
            return self._json.to_json(event)
        return message_to_plain(self._stored_body(event))

    def _stored_body(self, event: RecordedEvent) -> Message:
        entry = self.types.named(event.type)  # UnknownEventType for a name never registered
        envelope = self.envelope()
        try:
            envelope.ParseFromString(event.data)
        except DecodeError as exc:
            raise CodecError(
                f"{event.key}: payload is not a protobuf {self.message_type} ({exc})"
            ) from exc
        case = envelope.WhichOneof(self.fields.body)
        expected = self._case_of.get(entry.cls)
        if case != expected:
            raise CodecError(
                f"{event.key}: stored as {event.type} but its {self.fields.body} holds "
                f"{case or 'nothing this code knows'} (expected {expected})"
            )
        body: Message = getattr(envelope, case)
        return body


def proto3_json(message: Message) -> dict[str, Any]:
    """``message`` in the proto3 JSON mapping, with the ``.proto`` field names (every proto3
    JSON parser accepts them) and fields without presence printed at their default."""
    plain: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return plain


def plain_to_message(plain: Mapping[str, Any], message: Message) -> None:
    """Fill ``message`` from a plain dict (``to_plain`` output): the inverse of
    :func:`message_to_plain`, much faster than ``json_format.ParseDict``."""
    descriptor = message.DESCRIPTOR
    for name, value in plain.items():
        field = descriptor.fields_by_name.get(name)
        if field is None:
            raise ValueError(f"{descriptor.full_name} has no field {name!r}")
        if value is None:
            continue
        try:
            _set_field(message, field, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from exc


def _set_field(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    if field.is_repeated:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            for key, item in value.items():
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    _fill(value_field, target[key], item)
                else:
                    target[key] = _scalar(value_field, item)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value:
                _fill(field, target.add(), item)
        else:
            target.extend(_scalar(field, item) for item in value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        _fill(field, target, value)
        target.SetInParent()
    else:
        setattr(message, field.name, _scalar(field, value))


def _fill(field: FieldDescriptor, message: Message, value: Any) -> None:
    name = field.message_type.full_name
    if name == TIMESTAMP:
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone")
        message.FromDatetime(stamp.astimezone(UTC))
    elif name.startswith("google.protobuf."):
        json_format.ParseDict(value, message)
    else:
        plain_to_message(value, message)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        known = field.enum_type.values_by_name.get(value)
        if known is None:
            raise ValueError(f"{value!r} is not a value of {field.enum_type.full_name}")
        return known.number
    return value


def message_to_plain(message: Message) -> dict[str, Any]:
    """A message as the plain dict ``from_plain`` reads: field names as in the ``.proto``,
    64-bit integers as ints, timestamps as ISO 8601 strings in UTC, enums by name, fields
    with presence left out when unset, the others at their default."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.has_presence and not message.HasField(field.name):
            continue
        out[field.name] = _plain_field(field, getattr(message, field.name))
    return out


def _plain_field(field: FieldDescriptor, value: Any) -> Any:
    if field.is_repeated:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            return {k: _plain_value(value_field, v) for k, v in value.items()}
        return [_plain_value(field, v) for v in value]
    return _plain_value(field, value)


def _plain_value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == TIMESTAMP:
            return value.ToDatetime(tzinfo=UTC).isoformat()
        if field.message_type.full_name.startswith("google.protobuf."):
            return json_format.MessageToDict(value)
        return message_to_plain(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known else value
    return value


_DIRECT_SCALARS = {
    str: (FieldDescriptor.TYPE_STRING,),
    int: (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
    ),
    bool: (FieldDescriptor.TYPE_BOOL,),
    float: (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT),
}


def _direct_plan(cls: type, message: Descriptor) -> tuple[tuple[str, bool], ...] | None:
    """(field name, is a timestamp) per field when every field of the event maps 1:1 onto
    a singular scalar or Timestamp field of its message; None otherwise."""
    if not is_dataclass(cls):
        return None
    hints = typing.get_type_hints(cls)
    plan = []
    for f in fields(cls):
        if not f.init or f.kw_only:
            return None  # decode passes the fields positionally, in declaration order
        target = message.fields_by_name.get(f.name)
        if (
            target is None
            or target.is_repeated
            or (target.has_presence and target.type != FieldDescriptor.TYPE_MESSAGE)
        ):
            return None
        hint = hints[f.name]
        if hint is datetime and target.type == FieldDescriptor.TYPE_MESSAGE:
            if target.message_type.full_name != TIMESTAMP:
                return None
            plan.append((f.name, True))
        elif target.type in _DIRECT_SCALARS.get(hint, ()):
            plan.append((f.name, False))
        else:
            return None
    return tuple(plan)


def _fill_direct(body: Message, event: object, plan: tuple[tuple[str, bool], ...]) -> None:
    for name, stamp in plan:
        value = getattr(event, name)
        if stamp:
            if value.tzinfo is None:
                raise ValueError(f"{name}: {value!r} has no time zone")
            # Timestamp.FromDatetime goes through time tuples: 4x slower than this.
            seconds = value.timestamp()
            whole = math.floor(seconds)
            target = getattr(body, name)
            target.seconds = whole
            target.nanos = value.microsecond * 1000
        else:
            setattr(body, name, value)


def _timestamp_to_datetime(stamp: Any) -> datetime:
    # Positional timedelta arguments (days, seconds, microseconds): a third faster.
    return _EPOCH + timedelta(0, stamp.seconds, stamp.nanos // 1000)


def _missing_fields(cls: type, message: Descriptor) -> list[str]:
    if not is_dataclass(cls):
        return [f"{cls.__name__} is not a dataclass"]
    return [
        f"{cls.__name__}.{f.name} has no field in {message.full_name}"
        for f in fields(cls)
        if f.name not in message.fields_by_name
    ]


def _stored_as_json(event: RecordedEvent) -> bool:
    return event.metadata.get(CONTENT_TYPE, "").startswith(JSON_CONTENT_TYPE)
