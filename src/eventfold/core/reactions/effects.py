"""Side effects as values: what a reaction handler asks for, performed later, once.

A handler returns effects; a performer (SMTP, HTTP) carries one out. Each effect names
itself with ``key``, unique among the effects of ONE event (``"confirmation"``,
``"partner"``): the ledger key is ``<event.key>/<effect.key>``, stable across redeliveries
and code changes that reorder effects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventfold.domain.events import RecordedEvent


class Effect(Protocol):
    """Anything with a ``key`` naming it among the effects of one event."""

    @property
    def key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Email:
    """An e-mail to send. ``sender`` None: the mailer's default From address."""

    key: str
    to: tuple[str, ...]
    subject: str
    body: str
    sender: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.to:
            raise ValueError(f"e-mail {self.key!r} has no recipient")


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """An HTTP POST of ``body`` (``content_type`` says JSON or protobuf). ``url`` None: the
    sender's configured URL (unset there too: the call fails for good and its stream parks
    as "not configured"; it is never recorded as done)."""

    key: str
    body: bytes
    content_type: str
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


EffectPerformer = Callable[[Any, str], None]
"""Carries out one effect: ``(effect, idempotency_key) -> None``. Passes the idempotency
key on (``Idempotency-Key`` header, ``Message-ID``) so a receiver can drop the rare
duplicate; raises ``DeliveryFailed`` (``retryable=False`` when retrying cannot help)."""


class NotAttempted(Exception):
    """What a performer carrying out several effects at once reports for one it never
    started (an earlier failure stopped it): the reaction takes its claim back, as for an
    effect it never handed over, so the ledger's ``attempts`` counts real attempts."""


PayloadEncoder = Callable[[RecordedEvent], tuple[bytes, str]]
"""Turns an event into a request body and its content type (JSON, protobuf, ...)."""
