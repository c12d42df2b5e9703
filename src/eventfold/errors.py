"""The one error tree of eventfold.

Every error eventfold raises on purpose derives from :class:`EventfoldError`. Adapters map
their SDK's errors (sqlite3, botocore, SQLAlchemy, httpx) to these at the adapter edge, so
callers never catch a third-party exception to handle a domain situation::

    EventfoldError
    ├── InvalidCommand            bad input; lists every issue           -> HTTP 422
    ├── RuleViolated              the domain refused the command          -> HTTP 409
    ├── StreamNotFound            the command needs a stream that does not exist -> HTTP 404
    │   └── VersionNotFound       a read asked for a version the stream never reached -> 404
    ├── ConcurrencyConflict       the stream moved on since it was read   -> HTTP 409
    ├── IdempotencyKeyReused      same command id, different command      -> HTTP 422
    ├── Unauthenticated           no valid bearer token                   -> HTTP 401
    ├── Forbidden                 the policy does not give the caller this -> HTTP 403
    ├── IssuerUnavailable         the token issuer's keys cannot be fetched -> HTTP 503
    ├── CodecError                an event could not be encoded or decoded
    │   └── UnknownEventType      no type of that name is registered
    ├── StoreError                the event store failed
    │   ├── StoreLimitExceeded    a backend limit (item or transaction size) would be broken
    │   └── StoreUnavailable      transient; retrying later may succeed
    ├── DeliveryFailed            a subscription target failed to handle an event
    ├── NotYetVisible             the query model has not reached the version asked for -> 503
    └── ConfigurationError        settings that cannot work; says which and how to fix it

This module is a leaf: it imports nothing from eventfold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class EventfoldError(Exception):
    """Base of every error eventfold raises on purpose."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing wrong with a command: where (a dotted path, '' for the whole command) and what."""

    path: str
    message: str
    code: str = "invalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidCommand(EventfoldError):
    """A command failed validation. Carries every issue found, never only the first."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        if not self.issues:
            raise ValueError("InvalidCommand needs at least one issue")
        super().__init__("; ".join(str(issue) for issue in self.issues))


class RuleViolated(EventfoldError):
    """The domain refused a well-formed command (a business rule, an invalid transition)."""

    def __init__(self, message: str, *, code: str = "rule_violated") -> None:
        self.code = code
        super().__init__(message)


class StreamNotFound(EventfoldError):
    """A command addressed a stream that has no events."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        super().__init__(f"stream {stream_id!r} does not exist")


class VersionNotFound(StreamNotFound):
    """A read asked to see version ``wanted`` of a stream (``min_version``), but the event
    store holds the stream only up to ``current``: no wait can make it visible."""

    def __init__(self, stream_id: str, wanted: int, current: int) -> None:
        self.stream_id = stream_id
        self.wanted = wanted
        self.current = current
        EventfoldError.__init__(
            self, f"stream {stream_id!r} is at version {current}; version {wanted} does not exist"
        )


class ConcurrencyConflict(EventfoldError):
    """The stream was at another version than the writer expected."""

    def __init__(self, stream_id: str, expected: int, actual: int | None = None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        found = "" if actual is None else f", found version {actual}"
        super().__init__(f"stream {stream_id!r}: expected version {expected}{found}")


class IdempotencyKeyReused(EventfoldError):
    """A command id was used again for a different command."""

    def __init__(self, command_id: str) -> None:
        self.command_id = command_id
        super().__init__(
            f"command id {command_id!r} was already used for a different command; "
            "send a new Idempotency-Key for a new command"
        )


class Unauthenticated(EventfoldError):
    """The caller did not prove who they are: no token, or one that is expired, malformed,
    signed by another key or meant for another audience. ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Forbidden(EventfoldError):
    """The caller is known but the policy does not give them this action."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class IssuerUnavailable(EventfoldError):
    """The token issuer's keys could not be fetched (a transient failure: retry later)."""


class CodecError(EventfoldError):
    """An event or state could not be encoded or decoded."""


class UnknownEventType(CodecError):
    """No event type of this name is registered with the codec."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        super().__init__(f"unknown event type {type_name!r}: register it with the codec")


class StoreError(EventfoldError):
    """The event store failed to read or write."""


class StoreLimitExceeded(StoreError):
    """A write would break a backend limit (item size, actions or bytes per transaction)."""


class StoreUnavailable(StoreError):
    """A transient store failure (locked, throttled, network); the write did not happen."""


class DeliveryFailed(EventfoldError):
    """A subscription target failed to handle an event. ``retryable`` False parks at once."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class CallRefused(EventfoldError):
    """Another system answered a workflow's call with a business "no" (sold out, unknown
    item): retrying cannot change it, and the workflow decides what follows."""


class NotYetVisible(EventfoldError):
    """A read asked to see at least ``wanted`` of a stream (read-your-writes), but the query
    model still shows ``visible`` after waiting the allowed time. Retrying soon helps."""

    def __init__(self, stream_id: str, wanted: int, visible: int, waited: float) -> None:
        self.stream_id = stream_id
        self.wanted = wanted
        self.visible = visible
        self.waited = waited
        super().__init__(
            f"the query model shows {stream_id!r} at version {visible}, not yet {wanted} "
            f"(waited {waited:.1f} s); retry shortly"
        )


class ConfigurationError(EventfoldError):
    """Settings that cannot work. The message says which setting and how to fix it."""


__all__ = [
    "CodecError",
    "ConcurrencyConflict",
    "ConfigurationError",
    "DeliveryFailed",
    "EventfoldError",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidCommand",
    "Issue",
    "IssuerUnavailable",
    "NotYetVisible",
    "RuleViolated",
    "StoreError",
    "StoreLimitExceeded",
    "StoreUnavailable",
    "StreamNotFound",
    "Unauthenticated",
    "UnknownEventType",
    "VersionNotFound",
]
