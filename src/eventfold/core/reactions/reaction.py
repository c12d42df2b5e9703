"""The reaction target: plain handlers turn events into effects; a ledger makes each effect
happen once however often the event is delivered.

Order of work for each effect (ledger key ``<event.key>/<effect.key>``):

1. skip it when the ledger says ``done``;
2. ``claim`` it: a committed ``pending`` row (attempts + 1);
3. perform it, passing an idempotency key derived from the ledger key;
4. ``complete`` it: the row becomes ``done`` (committed).

So a ``done`` row exists exactly once per effect and only after the effect succeeded, and
a redelivery, redrive, rebuild or replay of the subscription never repeats a done effect.

The remaining window, honestly: a crash (or a lost connection to the ledger) AFTER the
effect was performed and BEFORE step 4 leaves the row ``pending``; the next delivery
performs the effect again, with the same idempotency key (``Idempotency-Key`` header,
e-mail ``Message-ID``), so a receiver that deduplicates on it sees it once. Without
distributed transactions between the ledger and the mail server / partner API, at-least-
once with a dedup key is the best available; the opposite order (mark done, then perform)
would silently LOSE effects instead. ``attempts`` > 1 on a done row flags the cases to
look at.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from eventfold.core.reactions.effects import Effect, EffectPerformer
from eventfold.core.router.router import describe
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed, UnknownEventType

ReactionHandler = Callable[[Any, RecordedEvent], Iterable[Effect]]
"""Decides the effects of one decoded event: ``(event, recorded) -> effects``. Pure: it
may run again for the same event (redelivery), and must then return the same effects."""


class EffectsLedger(Protocol):
    """Remembers, per (reaction, effect key), whether an effect was performed."""

    def done(self, reaction: str, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` whose effect is done."""
        ...

    def claim(self, reaction: str, key: str) -> None:
        """Record (committed) that the effect is about to be performed."""
        ...

    def complete(self, reaction: str, key: str) -> None:
        """Record (committed) that the effect was performed."""
        ...

    def failed(self, reaction: str, key: str, reason: str) -> None:
        """Record why the last attempt failed (for operators; best effort)."""
        ...


def idempotency_key(reaction: str, effect_key: str) -> str:
    """The key a receiver deduplicates on: ``<reaction>/<stream>:<version>/<effect>``."""
    return f"{reaction}/{effect_key}"


class Reaction:
    """A Target running :data:`ReactionHandler` per event class and performing the effects
    they return through ``performers`` (effect class -> :data:`EffectPerformer`), each at
    most once per ledger ``done`` row (see the module doc for the crash window)."""

    def __init__(
        self,
        name: str,
        codec: EventCodec,
        handlers: Mapping[type, ReactionHandler],
        performers: Mapping[type, EffectPerformer],
        ledger: EffectsLedger,
    ) -> None:
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"reaction name {name!r} must be non-empty, without spaces")
        self.name = name
        self.codec = codec
        self.ledger = ledger
        self._handlers = dict(handlers)
        self._performers = dict(performers)

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        planned = [(key, effect) for event in events for key, effect in self._effects_of(event)]
        if not planned:
            return
        done = self.ledger.done(self.name, [key for key, _ in planned])
        for key, effect in planned:
            if key in done:
                continue
            perform = self._performer_of(effect)
            self.ledger.claim(self.name, key)
            try:
                perform(effect, idempotency_key(self.name, key))
            except Exception as exc:
                self.ledger.failed(self.name, key, describe(exc))
                raise
            self.ledger.complete(self.name, key)
            done.add(key)

    def _effects_of(self, event: RecordedEvent) -> list[tuple[str, Effect]]:
        if event.type not in self.codec.types:
            raise UnknownEventType(event.type)
        decoded = self.codec.decode(event)  # by class: the stored name may be an alias
        handler = self._handlers.get(type(decoded))
        if handler is None:
            return []
        effects = [(f"{event.key}/{effect.key}", effect) for effect in handler(decoded, event)]
        keys = [key for key, _ in effects]
        if len(set(keys)) != len(keys):
            raise DeliveryFailed(
                f"reaction {self.name}: effects of {event.key} share a key ({keys}); give "
                "each effect of one event its own key",
                retryable=False,
            )
        return effects

    def _performer_of(self, effect: Effect) -> EffectPerformer:
        performer = self._performers.get(type(effect))
        if performer is None:
            raise DeliveryFailed(
                f"reaction {self.name}: no performer for {type(effect).__name__} effects; "
                "pass one in performers",
                retryable=False,
            )
        return performer
