"""Where a command comes from: who sent it and how a retry of it is recognised.

An :class:`Origin` travels with a command into :meth:`CommandHandler.run`, which writes it
into every event's metadata (the audit trail: actor, roles, the caller's Idempotency-Key)
and uses its ``command_id`` and ``request_digest`` to tell a retry from a new command.

Command ids have two owners that must never meet. The service's own commands use ids it
derives from what caused them (``expire-<reservation id>``); a client's Idempotency-Key is
turned into a command id by :func:`client_command_id`, which scopes it to the caller and the
operation and prefixes it with ``client:`` so no key can reach the service's ids (or another
caller's).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

CLIENT_COMMAND_PREFIX = "client:"
"""Every command id made from a client's Idempotency-Key starts with this; the service's
own command ids must not."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a subject (a customer id, a member of staff, a job's name), the roles the
    identity provider gave it and the stores it works for (staff)."""

    subject: str
    roles: frozenset[str] = frozenset()
    stores: frozenset[str] = frozenset()

    @classmethod
    def of(cls, subject: str, roles: Iterable[str] = (), stores: Iterable[str] = ()) -> Actor:
        return cls(subject, frozenset(roles), frozenset(stores))

    def has(self, role: str) -> bool:
        return role in self.roles


def service_actor(job: str) -> Actor:
    """The service itself, acting through one of its jobs or reactions (role ``service``)."""
    return Actor(job, frozenset({"service"}))


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a command and how its retries are recognised.

    ``command_id``: the same id twice is one command (the second call returns the first
    commit). ``request_digest``: what the caller asked for; the same ``command_id`` with
    another digest is :class:`~eventfold.errors.IdempotencyKeyReused` (empty: not compared,
    the id alone names the command). ``idempotency_key``: the key as the client sent it,
    kept for the audit trail.
    """

    actor: Actor | None = None
    command_id: str | None = None
    request_digest: str = ""
    idempotency_key: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


def client_command_id(actor: Actor, operation: str, key: str) -> str:
    """The command id of a client's Idempotency-Key: one per (caller, operation, key), so
    two callers' keys never collide and no key reaches the service's own ids."""
    scope = "\n".join((actor.subject, operation, key))
    return CLIENT_COMMAND_PREFIX + hashlib.sha256(scope.encode()).hexdigest()[:40]
