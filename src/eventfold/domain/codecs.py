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
import threading
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Protocol, TypeVar

from eventfold.domain.events import EventData, EventTypes, RecordedEvent
from eventfold.errors import CodecError

T = TypeVar("T")

JSON_CONTENT_TYPE = "application/json"


class EventCodec(Protocol):
    """Encodes domain events for the store and decodes recorded ones (upcasting old schemas).

    Every codec passes ``tests/contracts/event_codec.py``: round trips, metadata passed
    through untouched, ``UnknownEventType`` for a name never registered and ``CodecError``
    (never another exception) for a payload it cannot read."""

    content_type: str
    types: EventTypes

    def encode(self, event: object, metadata: Mapping[str, str] | None = None) -> EventData: ...

    def decode(self, event: RecordedEvent) -> object: ...

    def to_json(self, event: RecordedEvent) -> dict[str, Any]:
        """The payload as readable JSON, for the CLI, logs and operator views."""
        ...


Convert = Callable[[Any], Any]
_NONE = type(None)
_SCALARS = frozenset({str, int, float, bool, _NONE})


def to_plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    return _encoder(kind)(value)


_ENCODERS: dict[type, Convert] = {}


def _encoder(kind: type) -> Convert:
    """How to turn a value of this runtime type into plain data (built once per type)."""
    known = _ENCODERS.get(kind)
    if known is None:
        known = _ENCODERS[kind] = _build_encoder(kind)
    return known


def _build_encoder(kind: type) -> Convert:
    if dataclasses.is_dataclass(kind):
        names = tuple(f.name for f in dataclasses.fields(kind))

        def encode(value: Any) -> dict[str, Any]:
            out = {}
            for name in names:
                item = getattr(value, name)
                out[name] = item if type(item) in _SCALARS else _encoder(type(item))(item)
            return out

        return encode
    if issubclass(kind, enum.Enum):
        return lambda value: to_plain(value.value)
    if issubclass(kind, datetime | date):
        return lambda value: value.isoformat()
    if issubclass(kind, Decimal):
        return str
    if issubclass(kind, bool | int | str | float):  # subclasses of the scalars
        return lambda value: value
    if issubclass(kind, Mapping):
        return lambda value: {str(k): to_plain(v) for k, v in value.items()}
    if issubclass(kind, list | tuple | set | frozenset):
        return lambda value: [to_plain(v) for v in value]

    def refuse(value: Any) -> Any:
        raise CodecError(f"cannot encode a value of type {kind.__name__}")

    return refuse


def from_plain(tp: Any, value: Any) -> Any:
    """Rebuild a value of type ``tp`` from its plain (JSON) form; CodecError if it does not fit."""
    try:
        return _decoder(tp)(value)
    except CodecError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CodecError(f"{value!r} is not a valid {getattr(tp, '__name__', tp)}: {exc}") from exc


@cache
def _decoder(tp: Any) -> Convert:
    """How to rebuild a ``tp`` from plain data, built once per type from its hints."""
    if tp is Any:
        return _same
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _union_decoder(tp, args)
    if origin in (list, set, frozenset):
        item = _decoder(args[0] if args else Any)
        collection = origin
        return lambda value: collection(item(v) for v in _sequence(value))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda value: tuple(item(v) for v in _sequence(value))
        parts = tuple(_decoder(a) for a in args)
        return lambda value: tuple(d(v) for d, v in zip(parts, _sequence(value), strict=True))
    if origin in (dict, Mapping):  # typing.Mapping's origin is collections.abc.Mapping too
        key, val = (_decoder(args[0]), _decoder(args[1])) if args else (_same, _same)
        return lambda value: {key(k): val(v) for k, v in _mapping(value).items()}
    if not isinstance(tp, type):
        return _same
    if dataclasses.is_dataclass(tp):
        return _dataclass_decoder(tp)
    if issubclass(tp, enum.Enum):
        return tp
    if tp is datetime:
        return _datetime
    if tp is date:
        return lambda value: date.fromisoformat(value)
    if tp is Decimal:
        return lambda value: Decimal(value)
    if tp is float:
        return _float
    if tp is bool:
        return _exactly(bool, "a boolean")
    if tp in (int, str):
        return _exactly(tp, tp.__name__)
    return _same


def _same(value: Any) -> Any:
    return value


def _exactly(kind: type, name: str) -> Convert:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise CodecError(f"expected {name}, got {value!r}")
        return value

    return check


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"expected a number, got {value!r}")
    return float(value)


def _datetime(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sequence(value: Any) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise CodecError(f"expected a list, got {type(value).__name__}")
    return value


def _mapping(value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise CodecError(f"expected an object, got {type(value).__name__}")
    return value


def _union_decoder(tp: Any, args: tuple[Any, ...]) -> Convert:
    optional = _NONE in args
    options = tuple(_decoder(a) for a in args if a is not _NONE)

    def decode(value: Any) -> Any:
        if value is None and optional:
            return None
        for option in options:
            try:
                return option(value)
            except (CodecError, TypeError, ValueError):
                continue
        raise CodecError(f"{value!r} fits none of {tp}")

    return decode


def _dataclass_decoder(cls: type) -> Convert:
    # Field decoders are looked up on first use, so a dataclass may refer to itself.
    plan: list[tuple[str, Convert]] = []

    def decode(value: Any) -> Any:
        if not plan:
            hints = typing.get_type_hints(cls)
            plan.extend(
                (f.name, _decoder(hints[f.name])) for f in dataclasses.fields(cls) if f.init
            )
        if not isinstance(value, Mapping):
            raise CodecError(f"{cls.__name__} needs an object, got {type(value).__name__}")
        kwargs = {name: convert(value[name]) for name, convert in plan if name in value}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise CodecError(f"{cls.__name__}: {exc}") from exc

    return decode


# Built once: json.dumps with non-default options builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(value: Any) -> bytes:
    return _COMPACT.encode(value).encode()


class RecentDecodes:
    """The events a codec decoded last, by the identity of their :class:`RecordedEvent`.

    The subscriptions of a router process are handed the very same event objects (the
    feed keeps the events it read for the others), so each is decoded once instead of once
    per subscription. By identity, not by value: an entry keeps the event it was made for,
    so a new object that reuses a freed one's ``id()`` never matches. The decoded event is
    shared by every caller; events are plain immutable data (frozen dataclasses), which
    handlers read and never change. Thread-safe; ``size`` entries at most, the oldest
    dropped first."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[int, tuple[RecordedEvent, object]] = {}
        self._lock = threading.Lock()

    def decode(self, event: RecordedEvent, decode: Callable[[RecordedEvent], object]) -> object:
        """``decode(event)``, or what it returned when this very object was decoded last."""
        entry = self._entries.get(id(event))
        if entry is not None and entry[0] is event:
            return entry[1]
        decoded = decode(event)  # a failure is not remembered: the next call raises again
        with self._lock:
            entries = self._entries
            entries[id(event)] = (event, decoded)
            if len(entries) > self.size:
                del entries[next(iter(entries))]
        return decoded


class JsonCodec:
    """Events as compact UTF-8 JSON objects of their dataclass fields."""

    content_type = JSON_CONTENT_TYPE

    def __init__(self, types: EventTypes) -> None:
        self.types = types
        self._recent = RecentDecodes()

    def encode(self, event: object, metadata: Mapping[str, str] | None = None) -> EventData:
        entry = self.types.of(event)
        return EventData(entry.name, _dumps(to_plain(event)), entry.schema, dict(metadata or {}))

    def decode(self, event: RecordedEvent) -> object:
        return self._recent.decode(event, self._decode)

    def _decode(self, event: RecordedEvent) -> object:
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
