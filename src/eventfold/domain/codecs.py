"""Codecs turn domain objects into bytes and back.

Events go through an :class:`EventCodec` (JSON here; protobuf in ``eventfold.codecs``), which
names them with the :class:`~eventfold.domain.events.EventTypes` registry and upcasts old
payloads. Aggregate state snapshots always use :func:`encode_state` / :func:`decode_state`
(JSON): a snapshot is private to the service and replaced by a replay when its fold changes.

``to_plain`` / ``from_plain`` convert dataclasses (nested, with enums, datetimes, decimals,
tuples, lists, dicts, optionals) to JSON-ready values and back, guided by type hints.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Protocol, TypeVar

from eventfold.domain.events import EventData, EventTypes, RecordedEvent
from eventfold.errors import CodecError

T = TypeVar("T")

JSON_CONTENT_TYPE = "application/json"


class EventCodec(Protocol):
    """Encodes domain events for the store and decodes recorded ones (upcasting old schemas)."""

    content_type: str
    types: EventTypes

    def encode(self, event: object, metadata: Mapping[str, str] | None = None) -> EventData: ...

    def decode(self, event: RecordedEvent) -> object: ...

    def to_json(self, event: RecordedEvent) -> dict[str, Any]:
        """The payload as readable JSON, for the CLI, logs and operator views."""
        ...


def to_plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v) for v in value]
    raise CodecError(f"cannot encode a value of type {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_SCALARS = frozenset({str, int, float, bool})


def from_plain(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` from its plain (JSON) form."""
    if type(value) is tp and tp in _SCALARS:  # fast path: already the right scalar
        return value
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return from_plain(arg, value)
            except (CodecError, TypeError, ValueError):
                continue
        raise CodecError(f"{value!r} fits none of {tp}")
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(tp)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v) for v in value)
        if origin is tuple and args:
            return tuple(from_plain(a, v) for a, v in zip(args, value, strict=True))
        item = args[0] if args else Any
        return origin(from_plain(item, v) for v in value)
    if origin in (dict, Mapping) or origin is typing.get_origin(Mapping[str, int]):
        key_tp, val_tp = typing.get_args(tp) or (Any, Any)
        return {from_plain(key_tp, k): from_plain(val_tp, v) for k, v in value.items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, Mapping):
                raise CodecError(f"{tp.__name__} needs an object, got {type(value).__name__}")
            hints = _hints(tp)
            kwargs = {
                f.name: from_plain(hints[f.name], value[f.name])
                for f in dataclasses.fields(tp)
                if f.init and f.name in value
            }
            try:
                return tp(**kwargs)
            except TypeError as exc:
                raise CodecError(f"{tp.__name__}: {exc}") from exc
        if issubclass(tp, enum.Enum):
            return tp(value)
        if tp is datetime:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if tp is date:
            return date.fromisoformat(value)
        if tp is Decimal:
            return Decimal(value)
        if tp is float and isinstance(value, int | float):
            return float(value)
        if tp is bool and not isinstance(value, bool):
            raise CodecError(f"expected a boolean, got {value!r}")
        if tp in (int, str) and not isinstance(value, tp):
            raise CodecError(f"expected {tp.__name__}, got {value!r}")
        return value
    return value


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class JsonCodec:
    """Events as compact UTF-8 JSON objects of their dataclass fields."""

    content_type = JSON_CONTENT_TYPE

    def __init__(self, types: EventTypes) -> None:
        self.types = types

    def encode(self, event: object, metadata: Mapping[str, str] | None = None) -> EventData:
        entry = self.types.of(event)
        return EventData(entry.name, _dumps(to_plain(event)), entry.schema, dict(metadata or {}))

    def decode(self, event: RecordedEvent) -> object:
        entry, payload = self.types.upcast(event.type, event.schema, self.to_json(event))
        return from_plain(entry.cls, payload)

    def to_json(self, event: RecordedEvent) -> dict[str, Any]:
        try:
            payload = json.loads(event.data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CodecError(f"{event.key}: payload is not JSON ({exc})") from exc
        if not isinstance(payload, dict):
            raise CodecError(f"{event.key}: payload is not a JSON object")
        return payload


def encode_state(state: object) -> bytes:
    return _dumps(to_plain(state))


def decode_state(tp: type[T], data: bytes) -> T:
    try:
        return typing.cast(T, from_plain(tp, json.loads(data)))
    except (ValueError, KeyError, TypeError) as exc:
        raise CodecError(f"cannot decode a {tp.__name__} snapshot: {exc}") from exc
