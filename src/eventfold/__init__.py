"""eventfold: CQRS + event sourcing with a transactional outbox and a change-stream router.

The curated public API. Reference services and applications import from here and from the
other facades (``eventfold.router``, ``eventfold.web``, ``eventfold.sql``,
``eventfold.targets``, ``eventfold.codecs``, ``eventfold.aws``, ``eventfold.testing``), never
from the layers below.
"""

from eventfold.adapters.sqlite.event_store import SqliteEventStore
from eventfold.core.app.handler import CommandHandler, Outcome, OutcomeCounter, Session
from eventfold.core.app.ids import new_id
from eventfold.core.app.origin import Actor, Origin, service_actor
from eventfold.core.ports import Commit, EventStore, Snapshot, StreamWrite
from eventfold.domain.codecs import EventCodec, JsonCodec
from eventfold.domain.decider import Decider, category_of, entity_id_of
from eventfold.domain.events import EventData, EventTypes, RecordedEvent, Upcaster
from eventfold.domain.validation import Validation, invalid
from eventfold.errors import (
    CodecError,
    ConcurrencyConflict,
    ConfigurationError,
    DeliveryFailed,
    EventfoldError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidCommand,
    Issue,
    IssuerUnavailable,
    NotYetVisible,
    RuleViolated,
    StoreError,
    StoreLimitExceeded,
    StoreUnavailable,
    StreamNotFound,
    Unauthenticated,
    UnknownEventType,
    VersionNotFound,
)

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "CodecError",
    "CommandHandler",
    "Commit",
    "ConcurrencyConflict",
    "ConfigurationError",
    "Decider",
    "DeliveryFailed",
    "EventCodec",
    "EventData",
    "EventStore",
    "EventTypes",
    "EventfoldError",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidCommand",
    "Issue",
    "IssuerUnavailable",
    "JsonCodec",
    "NotYetVisible",
    "Origin",
    "Outcome",
    "OutcomeCounter",
    "RecordedEvent",
    "RuleViolated",
    "Session",
    "Snapshot",
    "SqliteEventStore",
    "StoreError",
    "StoreLimitExceeded",
    "StoreUnavailable",
    "StreamNotFound",
    "StreamWrite",
    "Unauthenticated",
    "UnknownEventType",
    "Upcaster",
    "Validation",
    "VersionNotFound",
    "category_of",
    "entity_id_of",
    "invalid",
    "new_id",
    "service_actor",
]
