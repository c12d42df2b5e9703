"""The command handler: load -> decide -> append, written once for every decider.

A command runs in a :class:`Session`. A session may decide on several streams (a
reservation and the stock it holds); everything it decides is committed by ONE atomic
append. On a version conflict the whole session runs again on fresh state, a bounded
number of times, unless the caller pinned the version it saw (then the conflict is the
answer: the client acted on stale data).

Commands of one handler on the same stream take turns (:mod:`eventfold.core.app.queue`): a
session waits for a stream's turn when it first opens it and gives it back when its attempt
ends, so same-stream commands queue instead of racing into conflicts and retries.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from eventfold.core.app.cache import StateCache
from eventfold.core.app.origin import Origin
from eventfold.core.app.queue import DEFAULT_TURN_TIMEOUT, StreamTurns
from eventfold.core.ports import Commit, EventStore, StreamWrite
from eventfold.domain.codecs import EventCodec, decode_state, encode_state, to_plain
from eventfold.domain.decider import Decider
from eventfold.domain.events import (
    ACTOR,
    ACTOR_ROLES,
    CAUSATION_ID,
    COMMAND_ID,
    CONTENT_TYPE,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
)
from eventfold.errors import (
    ConcurrencyConflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidCommand,
    RuleViolated,
    StreamNotFound,
)

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E")
R = TypeVar("R")

DEFAULT_ATTEMPTS = 8

OutcomeCounter = Callable[[str], None]
"""Told how each command handled by a handler ended: ``committed`` (events appended, or
nothing to append), ``duplicate`` (its command id had committed before: that commit is the
answer), ``refused`` (a rule, the command's own validity, a missing stream or a reused
Idempotency-Key), ``conflict`` (a version conflict not resolved by deciding again) or
``failed`` (anything else, e.g. the store unavailable). The HTTP entry point counts them
as a Prometheus metric."""

REFUSALS = (InvalidCommand, RuleViolated, StreamNotFound, IdempotencyKeyReused, Forbidden)


def _ignore(_: str) -> None:
    pass


ANONYMOUS = Origin()
"""No command id, no actor: an in-process command run once."""


class _Stream(Generic[S]):
    """A stream as one session sees it: loaded version and state, plus what it decided."""

    __slots__ = (
        "cached",
        "decider",
        "guessed_new",
        "pending",
        "pinned",
        "state",
        "stream_id",
        "version",
    )

    def __init__(
        self, decider: Decider[Any, S, Any], stream_id: str, version: int, state: S, cached: bool
    ) -> None:
        self.decider = decider
        self.stream_id = stream_id
        self.version = version
        self.state = state
        self.cached = cached
        self.guessed_new = False  # decided on as new without a read (``execute(new=True)``)
        self.pinned = False
        self.pending: list[Any] = []

    @property
    def current_version(self) -> int:
        """The version once what this session decided is committed."""
        return self.version + len(self.pending)


class Session:
    """One attempt at a command: the streams it read and the events it decided.

    ``cache``: where states are taken from before the store; None: every stream is read
    from the store, and none is guessed new either (a retry after a wrong guess).

    ``turns``: the session takes each stream's turn before it first reads the stream (at
    most ``turn_timeout`` seconds of waiting, then it goes on without) and holds it until
    :meth:`release_turns`; None: no turns taken.
    """

    def __init__(
        self,
        store: EventStore,
        codec: EventCodec,
        cache: StateCache | None = None,
        *,
        turns: StreamTurns | None = None,
        turn_timeout: float = DEFAULT_TURN_TIMEOUT,
    ) -> None:
        self._store = store
        self._codec = codec
        self._cache = cache
        self._streams: dict[str, _Stream[Any]] = {}
        self._turns = turns
        self._turn_timeout = turn_timeout
        self._held: list[str] = []
        self.turns_missed = 0
        """Streams whose turn this session did not get in time (it went on without)."""

    def release_turns(self) -> None:
        """Give back every turn this session holds (once its attempt committed or failed)."""
        if self._turns is not None:
            while self._held:
                self._turns.release(self._held.pop())

    def _open(self, decider: Decider[Any, S, Any], stream_id: str, new: bool = False) -> _Stream[S]:
        known = self._streams.get(stream_id)
        if known is not None:
            return known
        if self._turns is not None:
            # Before reading: the previous holder's commit (and cached state) is what we see.
            if self._turns.acquire(stream_id, self._turn_timeout):
                self._held.append(stream_id)
            else:
                self.turns_missed += 1
        if new and self._cache is not None:
            # A guess, like a cached state: the append expects version 0 and conflicts if
            # the stream exists after all; the command is then decided on what is stored.
            guessed: _Stream[S] = _Stream(decider, stream_id, 0, decider.initial_state, True)
            guessed.guessed_new = True
            self._streams[stream_id] = guessed
            return guessed
        hit = self._cache.get(stream_id, decider.fold_id) if self._cache else None
        if hit is not None:
            opened: _Stream[S] = _Stream(decider, stream_id, hit[0], hit[1], True)
            self._streams[stream_id] = opened
            return opened
        snapshot = self._store.load(stream_id)
        if snapshot is None:
            # Every append writes the state row with the events: no row, no events.
            opened = _Stream(decider, stream_id, 0, decider.initial_state, False)
        elif snapshot.fold == decider.fold_id:
            state = decode_state(type(decider.initial_state), snapshot.state)
            opened = _Stream(decider, stream_id, snapshot.version, state, False)
        else:
            # A snapshot written by another fold of evolve: replay the stream.
            recorded = self._store.read(stream_id)
            events = [self._codec.decode(e) for e in recorded]
            version = recorded[-1].version if recorded else 0
            opened = _Stream(decider, stream_id, version, decider.fold_events(events), False)
        self._streams[stream_id] = opened
        return opened

    def state(self, decider: Decider[Any, S, Any], stream_id: str) -> tuple[S, int]:
        """The stream's current state and version (including what this session decided)."""
        stream = self._open(decider, stream_id)
        return stream.state, stream.current_version

    def execute(
        self,
        decider: Decider[C, S, E],
        stream_id: str,
        command: C,
        *,
        expected_version: int | None = None,
        must_exist: bool = False,
        new: bool = False,
    ) -> Sequence[E]:
        """Decide ``command`` on the stream; the events are committed with the session.

        ``expected_version``: the version the caller saw; a different one is a
        ConcurrencyConflict that is not retried. ``must_exist``: StreamNotFound if the
        stream has no events. ``new``: the stream's id was just made (a fresh reservation
        id), so it is decided on the decider's initial state without reading the store
        (one query less per command); should it exist after all, the append conflicts and
        the command is decided again on the stored state.
        """
        stream = self._open(decider, stream_id, new)
        if must_exist and stream.version == 0 and not stream.pending:
            raise StreamNotFound(stream_id)
        if expected_version is not None:
            stream.pinned = True
            if expected_version != stream.version:
                raise ConcurrencyConflict(stream_id, expected_version, stream.version)
        events = decider.decide(command, stream.state)
        for event in events:
            stream.state = decider.evolve(stream.state, event)
        stream.pending.extend(events)
        return events

    def writes(self, metadata: Mapping[str, str]) -> list[StreamWrite]:
        return [
            StreamWrite(
                stream_id=s.stream_id,
                expected_version=s.version,
                events=[self._codec.encode(e, metadata) for e in s.pending],
                state=encode_state(s.state),
                fold=s.decider.fold_id,
            )
            for s in self._streams.values()
            if s.pending
        ]

    @property
    def used_cache(self) -> bool:
        return any(s.cached for s in self._streams.values())

    def stream_ids(self) -> list[str]:
        return list(self._streams)

    def remember(self, cache: StateCache) -> None:
        """Cache the state of every stream this session wrote (after its commit)."""
        for s in self._streams.values():
            if s.pending:
                cache.put(s.stream_id, s.decider.fold_id, s.current_version, s.state)

    def versions(self) -> dict[str, int]:
        return {sid: s.current_version for sid, s in self._streams.items()}

    def guessed_new(self, stream_id: str) -> bool:
        """Whether this session decided on the stream as new without reading it."""
        stream = self._streams.get(stream_id)
        return stream is not None and stream.guessed_new

    def pinned(self, stream_id: str) -> bool:
        stream = self._streams.get(stream_id)
        return stream is not None and stream.pinned


def fingerprint(*parts: Any) -> str:
    """A stable digest of a command's content, to tell a retry from a reuse of its id."""
    text = json.dumps(to_plain(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class HandlerStats:
    """What a handler counted since it was made."""

    conflicts_retried: int = 0
    """Appends that met a version conflict and were decided again."""
    turns_missed: int = 0
    """Stream turns a session waited for in vain (it went on without, optimistically)."""


@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    """A handled command: the commit, and what the work returned (None for a duplicate,
    whose work did not run again)."""

    commit: Commit
    result: R | None


class CommandHandler:
    """Runs commands against an event store with one codec.

    ``attempts`` bounds the reload-and-decide-again loop on version conflicts. ``cache``
    keeps the states this handler committed (see :mod:`eventfold.core.app.cache`); pass
    ``StateCache(0)`` to always load from the store.

    ``take_turns``: commands on the same stream queue, one in flight per stream (see
    :mod:`eventfold.core.app.queue`), each waiting at most ``turn_timeout`` seconds for its
    turn; False: they race and the losers retry.
    """

    def __init__(
        self,
        store: EventStore,
        codec: EventCodec,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        cache: StateCache | None = None,
        take_turns: bool = True,
        turn_timeout: float = DEFAULT_TURN_TIMEOUT,
        outcomes: OutcomeCounter | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.store = store
        self.codec = codec
        self.attempts = attempts
        self.cache = StateCache() if cache is None else cache
        self.turns = StreamTurns() if take_turns else None
        self.turn_timeout = turn_timeout
        self._stats = HandlerStats()
        self._stats_lock = threading.Lock()
        self._outcome = outcomes or _ignore

    @property
    def stats(self) -> HandlerStats:
        """Conflicts retried and turns missed so far."""
        return self._stats

    def _count(self, conflicts: int = 0, missed: int = 0) -> None:
        if conflicts or missed:
            with self._stats_lock:
                self._stats = HandlerStats(
                    self._stats.conflicts_retried + conflicts, self._stats.turns_missed + missed
                )

    def run(self, work: Callable[[Session], R], origin: Origin = ANONYMOUS) -> Outcome[R]:
        """Run ``work`` in a session and commit what it decided, atomically.

        ``origin`` (see :class:`Origin`) goes into every event's metadata. A command id that
        already committed returns that commit (``duplicate=True``) without running ``work``
        again; when both carry a request digest and they differ, the id was reused for
        another command: IdempotencyKeyReused. This is the one place that comparison is
        made (stores only return the earlier commit). How it ended is told to the
        handler's :data:`OutcomeCounter`.
        """
        try:
            outcome = self._run(work, origin)
        except ConcurrencyConflict:
            self._outcome("conflict")
            raise
        except REFUSALS:
            self._outcome("refused")
            raise
        except Exception:
            self._outcome("failed")
            raise
        self._outcome("duplicate" if outcome.commit.duplicate else "committed")
        return outcome

    def _run(self, work: Callable[[Session], R], origin: Origin) -> Outcome[R]:
        command_id = origin.command_id
        digest = origin.request_digest if command_id is not None else ""
        metadata = self._metadata(origin)
        named = origin.idempotency_key or command_id  # what a reuse error names
        if command_id is not None:
            earlier = self.store.find_commit(command_id)
            if earlier is not None:
                return Outcome(self._check_duplicate(earlier, named, digest), None)
        conflicts = 0
        trust_cache = True
        while True:
            session = Session(
                self.store,
                self.codec,
                self.cache if trust_cache else None,
                turns=self.turns,
                turn_timeout=self.turn_timeout,
            )
            try:
                try:
                    result = work(session)
                    writes = session.writes(metadata)
                except Exception:
                    if not session.used_cache:
                        raise
                    # Refused on a cached state: decide again on the stored one first.
                    self.cache.forget(*session.stream_ids())
                    trust_cache = False
                    continue
                if not writes:
                    if session.used_cache:  # a no-op is an answer too: check it on fresh state
                        trust_cache = False
                        continue
                    return Outcome(Commit(command_id, session.versions()), result)
                try:
                    commit = self.store.append(*writes, command_id=command_id, fingerprint=digest)
                except ConcurrencyConflict as conflict:
                    self.cache.forget(*session.stream_ids())
                    # Turns keep this handler's own commands from racing: another writer
                    # moved the stream, and will likely again (see StateCache.contested).
                    self.cache.contested(conflict.stream_id)
                    if session.guessed_new(conflict.stream_id):
                        trust_cache = False  # not new after all: read it this time
                    conflicts += 1
                    if session.pinned(conflict.stream_id) or conflicts >= self.attempts:
                        raise
                    self._count(conflicts=1)
                    continue
                if commit.duplicate:
                    # A concurrent retry of the same command won the race: its result stands,
                    # and the states this session decided were never written.
                    self.cache.forget(*session.stream_ids())
                    return Outcome(self._check_duplicate(commit, named, digest), None)
                # Cached before the turns are given back: the next in line starts from it.
                session.remember(self.cache)
                return Outcome(commit, result)
            finally:
                session.release_turns()
                self._count(missed=session.turns_missed)

    def execute(
        self,
        decider: Decider[C, S, E],
        stream_id: str,
        command: C,
        origin: Origin = ANONYMOUS,
        *,
        expected_version: int | None = None,
        must_exist: bool = False,
    ) -> Outcome[Sequence[E]]:
        """Decide one command on one stream and commit it."""
        return self.run(
            lambda s: s.execute(
                decider,
                stream_id,
                command,
                expected_version=expected_version,
                must_exist=must_exist,
            ),
            origin,
        )

    def _metadata(self, origin: Origin) -> dict[str, str]:
        metadata = {CONTENT_TYPE: self.codec.content_type}
        if origin.command_id is not None:
            metadata[COMMAND_ID] = origin.command_id
        correlation = origin.correlation_id or origin.command_id
        if correlation:
            metadata[CORRELATION_ID] = correlation
        if origin.causation_id:
            metadata[CAUSATION_ID] = origin.causation_id
        if origin.actor is not None:
            metadata[ACTOR] = origin.actor.subject
            metadata[ACTOR_ROLES] = ",".join(sorted(origin.actor.roles))
        if origin.idempotency_key is not None:
            metadata[IDEMPOTENCY_KEY] = origin.idempotency_key
        return metadata

    @staticmethod
    def _check_duplicate(commit: Commit, named: str | None, fp: str) -> Commit:
        if fp and commit.fingerprint and fp != commit.fingerprint and named:
            raise IdempotencyKeyReused(named)
        return Commit(commit.command_id, commit.versions, True, commit.fingerprint)
