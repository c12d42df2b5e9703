"""The reaction target: plain handlers turn events into effects; a ledger makes each effect
happen once however often the event is delivered.

Order of work for a batch of events (ledger key of an effect: ``<event.key>/<effect.key>``):

1. one ledger read: which of the batch's effects are ``done`` (those are skipped);
2. ``claim`` the others, in ONE committed transaction: a ``pending`` row each (attempts
   + 1);
3. perform them, each stream's in order, passing an idempotency key derived from the
   ledger key;
4. ``settle``, in ONE committed transaction: the performed effects become ``done``.

So a ``done`` row exists exactly once per effect and only after the effect succeeded, and
a redelivery, redrive, rebuild or replay of the subscription never repeats a done effect.

When an effect fails, nothing after it in the batch is started: step 4 then records the
effects performed before it as ``done`` (another stream's effects in the same batch are not
redone when the router retries the streams one at a time), the failure's reason on the
failing one, and RELEASES the claims of the effects never attempted (attempts - 1; a row
claimed only now is deleted), so ``attempts`` counts real attempts. Then the error is
raised and the router retries or parks that stream alone.

The remaining window, honestly: a crash (or a lost connection to the ledger) AFTER an
effect was performed and BEFORE step 4 leaves its row ``pending``; the next delivery
performs it again, with the same idempotency key (``Idempotency-Key`` header, e-mail
``Message-ID``), so a receiver that deduplicates on it sees it once. With one settle per
batch, that window covers the effects of one batch (the subscription's ``batch_size``)
instead of one effect: the price of two ledger transactions per batch instead of two per
effect. Without distributed transactions between the ledger and the mail server / partner
API, at-least-once with a dedup key is the best available; the opposite order (mark done,
then perform) would silently LOSE effects instead. ``attempts`` > 1 on a done row flags the
cases to look at.

Performers that can keep a connection open across the effects of one batch (SMTP) offer
``session()`` (see :class:`BatchPerformer`): the reaction enters it around step 3.
Performers that can carry out several effects at once (the webhook sender pipelines them on
one connection) offer ``perform_many`` (see :class:`ManyPerformer`). Step 3 goes wave by
wave: each stream's first effect, in the order the streams come, then each one's second,
and so on; within a wave, the effects of one such performer are handed over together (a
run). A stream's effects still happen in order (its next effect is in a later wave), and a
failure still stops the batch: the effects of the failing run were started with it and
count as attempted (done or failed), except those the performer reports it never started
(:class:`~eventfold.core.reactions.effects.NotAttempted`), and no later run is started.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from eventfold.core.reactions.effects import Effect, EffectPerformer, NotAttempted
from eventfold.core.router.router import describe
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed, UnknownEventType

ReactionHandler = Callable[[Any, RecordedEvent], Iterable[Effect]]
"""Decides the effects of one decoded event: ``(event, recorded) -> effects``. Pure: it
may run again for the same event (redelivery), and must then return the same effects."""


class EffectsLedger(Protocol):
    """Remembers, per (reaction, effect key), whether an effect was performed. Every adapter
    passes ``tests/contracts/effects_ledger.py``."""

    def done(self, reaction: str, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` whose effect is done (one read, however many keys)."""
        ...

    def claim(self, reaction: str, keys: Collection[str]) -> set[str]:
        """Record, in one committed transaction, that these effects are about to be
        performed: a ``pending`` row each, or one more attempt on a pending row. A key
        already done is left as it is; those keys are returned (so that a batch costs no
        separate :meth:`done` read)."""
        ...

    def settle(
        self,
        reaction: str,
        done: Collection[str],
        failed: Mapping[str, str] | None = None,
        released: Collection[str] = (),
    ) -> None:
        """In one committed transaction: mark ``done`` as performed; record why each of
        ``failed`` (key -> reason) failed (they stay pending); take back the claim of each
        of ``released`` (claimed, never attempted): attempts - 1, the row gone when no
        attempt is left. Raises ``DeliveryFailed`` (retryable) when the ledger is down."""
        ...


class BatchPerformer(Protocol):
    """An :data:`EffectPerformer` that can keep a connection open across the effects of a
    batch: :meth:`session` is entered before the first effect and left after the last."""

    def __call__(self, effect: Any, idempotency_key: str) -> None: ...

    def session(self) -> AbstractContextManager[object]: ...


class ManyPerformer(Protocol):
    """An :data:`EffectPerformer` that can carry out several independent effects at once
    (the reaction never hands it two effects of one stream together)."""

    def __call__(self, effect: Any, idempotency_key: str) -> None: ...

    def perform_many(self, effects: Sequence[tuple[Any, str]]) -> list[Exception | None]:
        """Perform each (effect, idempotency key); return, in the same order, None for
        each effect done, the exception for each that failed (what ``__call__`` would
        have raised for it) and :class:`NotAttempted` for each never started."""
        ...


def idempotency_key(reaction: str, effect_key: str) -> str:
    """The key a receiver deduplicates on: ``<reaction>/<stream>:<version>/<effect>``."""
    return f"{reaction}/{effect_key}"


@dataclass(frozen=True, slots=True)
class _Todo:
    stream_id: str
    key: str
    effect: Effect
    perform: EffectPerformer


@dataclass
class _Outcome:
    """What a batch did: the keys performed, and the effects that failed with their errors
    (key None: a session that would not open or close, or a run whose performer started
    none of some effects, which stops the batch all the same), the first failure first."""

    performed: list[str] = field(default_factory=list)
    failed: dict[str | None, Exception] = field(default_factory=dict)


class Reaction:
    """A Target running :data:`ReactionHandler` per event class and performing the effects
    they return through ``performers`` (effect class -> :data:`EffectPerformer`), each at
    most once per ledger ``done`` row (see the module doc for the crash window), with two
    ledger transactions per batch. Effects are performed in the caller's thread, wave by
    wave, each stream's in order (those of a :class:`ManyPerformer` a run at a time); after
    a failure none is started."""

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
        # Every effect's performer is known before anything is claimed.
        every = [
            _Todo(event.stream_id, key, effect, self._performer_of(effect))
            for event in events
            for key, effect in self._effects_of(event)
        ]
        if not every:
            return
        done = self.ledger.claim(self.name, [t.key for t in every])
        todo = [t for t in every if t.key not in done]
        if not todo:
            return
        outcome = self._perform(todo)
        if not outcome.failed:
            self.ledger.settle(self.name, outcome.performed)
            return
        reasons = {key: describe(error) for key, error in outcome.failed.items() if key}
        attempted = {*outcome.performed, *reasons}
        unattempted = [t.key for t in todo if t.key not in attempted]
        # best effort: the effect's own failure is what the router must see
        with suppress(Exception):
            self.ledger.settle(self.name, outcome.performed, reasons, unattempted)
        raise next(iter(outcome.failed.values()))

    def _perform(self, todo: list[_Todo]) -> _Outcome:
        """Perform ``todo``, each stream's effects in order, each performer in one session
        for the batch (one SMTP connection), run by run (see :func:`_runs`: wave by wave),
        until a run has a failure."""
        outcome = _Outcome()
        try:
            with ExitStack() as sessions:
                for perform in dict.fromkeys(t.perform for t in todo):
                    session = getattr(perform, "session", None)
                    if session is not None:
                        sessions.enter_context(session())
                for run in _runs(todo):
                    self._perform_run(run, outcome)
                    if outcome.failed:
                        break
        except Exception as exc:  # a session that would not open or close
            if not outcome.failed:
                outcome.failed[None] = exc
        return outcome

    def _perform_run(self, run: list[_Todo], outcome: _Outcome) -> None:
        if len(run) == 1:
            item = run[0]
            try:
                item.perform(item.effect, idempotency_key(self.name, item.key))
            except Exception as exc:
                outcome.failed[item.key] = exc
                return
            outcome.performed.append(item.key)
            return
        many = cast(ManyPerformer, run[0].perform).perform_many  # _runs checked it has one
        try:
            errors = many([(t.effect, idempotency_key(self.name, t.key)) for t in run])
            if len(errors) != len(run):
                raise ValueError(f"perform_many gave {len(errors)} outcomes for {len(run)}")
        except Exception as exc:  # the performer's own fault: any of them may have happened
            for item in run:
                outcome.failed[item.key] = exc
            return
        unstarted = None
        for item, error in zip(run, errors, strict=True):
            if error is None:
                outcome.performed.append(item.key)
            elif isinstance(error, NotAttempted):
                unstarted = error  # its claim is taken back
            else:
                outcome.failed[item.key] = error
        if unstarted is not None and not outcome.failed:
            outcome.failed[None] = unstarted  # still stops the batch

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


def _runs(todo: list[_Todo]) -> Iterator[list[_Todo]]:
    """``todo`` in the order it is performed, cut into runs. Wave by wave: each stream's
    first effect (streams in the order they come), then each one's second, and so on, so
    that a stream's effects stay in order while a wave holds one effect per stream (the
    router hands a batch over stream by stream). Within a wave, consecutive effects of one
    :class:`ManyPerformer` form a run; every other effect is a run of its own."""
    streams: dict[str, list[_Todo]] = {}
    for item in todo:
        streams.setdefault(item.stream_id, []).append(item)
    depth = max(len(effects) for effects in streams.values())
    for wave in range(depth):
        run: list[_Todo] = []
        for effects in streams.values():
            if wave >= len(effects):
                continue
            item = effects[wave]
            if run and item.perform is run[0].perform and hasattr(item.perform, "perform_many"):
                run.append(item)
                continue
            if run:
                yield run
            run = [item]
        if run:
            yield run
