"""Events as the store sees them, and the registry that names and versions domain events."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventfold.domain.decider import category_of
from eventfold.errors import CodecError, UnknownEventType

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]
"""Turns the plain payload of schema ``n`` into the payload of schema ``n + 1``."""

# Metadata keys eventfold itself writes; applications may add their own.
COMMAND_ID = "command_id"
CORRELATION_ID = "correlation_id"
CAUSATION_ID = "causation_id"
CONTENT_TYPE = "content_type"
ACTOR = "actor"
"""The subject that sent the command (a customer id, staff member, the service's job)."""
ACTOR_ROLES = "actor_roles"
"""Its roles, comma-separated."""
IDEMPOTENCY_KEY = "idempotency_key"
"""The Idempotency-Key the client sent with the command, as it sent it."""


@dataclass(slots=True)
class EventData:
    """An encoded event about to be appended: the store never looks inside ``data``.

    A message on the write path, built once per event and read by the store: not frozen,
    because a frozen dataclass costs four times as much to build. Do not change one after
    handing it over."""

    type: str
    data: bytes
    schema: int = 1
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A committed event. ``version`` is its place in its stream (1, 2, 3 … no gaps);
    ``position`` its place in the store's global order where the store has one."""

    stream_id: str
    version: int
    type: str
    data: bytes
    schema: int
    metadata: Mapping[str, str]
    recorded_at: datetime
    position: int | None = None

    @property
    def category(self) -> str:
        return category_of(self.stream_id)

    @property
    def key(self) -> str:
        """``stream:version``: unique per event, the natural dedup / idempotency key."""
        return f"{self.stream_id}:{self.version}"


@dataclass(frozen=True, slots=True)
class EventType:
    cls: type
    name: str
    schema: int
    upcasters: Mapping[int, Upcaster]


class EventTypes:
    """Names domain event classes, versions their payload schema and upcasts old payloads.

    ``register(Cls, schema=3, upcasters={1: v1_to_v2, 2: v2_to_v3})``: a stored payload of
    schema 1 is passed through both before it becomes a ``Cls``. ``aliases`` lets a renamed
    event class still read events stored under its old names.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, EventType] = {}
        self._by_class: dict[type, EventType] = {}

    def register(
        self,
        cls: type,
        *,
        name: str | None = None,
        schema: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
        aliases: tuple[str, ...] = (),
    ) -> type:
        steps = dict(upcasters or {})
        missing = [n for n in range(1, schema) if n not in steps]
        if missing and steps:
            raise ValueError(f"{cls.__name__}: no upcaster from schema {missing} to the next")
        entry = EventType(cls, name or cls.__name__, schema, steps)
        for key in (entry.name, *aliases):
            if key in self._by_name and self._by_name[key].cls is not cls:
                raise ValueError(f"event type name {key!r} is already registered")
            self._by_name[key] = entry
        self._by_class[cls] = entry
        return cls

    def of(self, event: object) -> EventType:
        try:
            return self._by_class[type(event)]
        except KeyError:
            raise CodecError(f"{type(event).__name__} is not a registered event type") from None

    def name_of(self, cls: type) -> str:
        """The name ``cls`` is stored under."""
        try:
            return self._by_class[cls].name
        except KeyError:
            raise CodecError(f"{cls.__name__} is not a registered event type") from None

    def named(self, name: str) -> EventType:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownEventType(name) from None

    def upcast(self, name: str, schema: int, payload: Payload) -> tuple[EventType, Payload]:
        """The current type and payload for a payload stored under ``name`` at ``schema``."""
        entry = self.named(name)
        if schema > entry.schema:
            raise CodecError(
                f"{name} schema {schema} is newer than this code knows ({entry.schema}): "
                "deploy the newer code before reading these events"
            )
        for step in range(schema, entry.schema):
            upcaster = entry.upcasters.get(step)
            if upcaster is not None:
                payload = upcaster(payload)
        return entry, payload

    def including(self, other: EventTypes) -> EventTypes:
        """A registry of this one's types and ``other``'s (names and aliases kept); a name
        both register for different classes is a ValueError."""
        merged = EventTypes()
        for source in (self, other):
            for key, entry in source._by_name.items():
                known = merged._by_name.get(key)
                if known is not None and known.cls is not entry.cls:
                    raise ValueError(f"event type name {key!r} is registered twice")
                merged._by_name[key] = entry
            merged._by_class.update(source._by_class)
        return merged

    def __iter__(self) -> Iterator[EventType]:
        return iter(list(self._by_class.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
