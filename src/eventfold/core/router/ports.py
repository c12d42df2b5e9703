"""The read side's ports: feeds, targets, subscriptions and the router's own state.

How they fit: a :class:`Feed` yields committed events from an opaque string checkpoint;
the router (``eventfold.core.router.router``) hands each event to every
:class:`Subscription` whose filter matches, checking per (subscription, stream) the last
applied version (duplicates skipped, gaps healed from the event store, failures retried then
the stream PARKED), and calls the subscription's :class:`Target` with batches. What the
router must remember lives behind three ports: :class:`Checkpoints` (where each
subscription's runner resumes the feed), :class:`AppliedVersions` (the last applied version
per stream, for targets that do not keep their own, and operators' skips) and
:class:`ParkingLot` (parked streams and the events waiting on them). One adapter may serve
all three from one file or table.

Every adapter of a port passes that port's contract suite (``tests/contracts/feed.py``,
``checkpoints.py``, ``applied_versions.py``, ``parking_lot.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from eventfold.domain.events import RecordedEvent

BEGINNING = ""
"""The checkpoint before the first event of any feed."""


# -- feeds -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedBatch:
    """What one poll returned.

    ``checkpoint`` is where the NEXT poll starts once every event of this batch is done
    (handed to the targets or parked); the router persists it only then. ``receipts`` are
    feed-private handles a queue-like feed needs in :meth:`Feed.ack` (empty for log feeds).
    """

    events: Sequence[RecordedEvent]
    checkpoint: str
    receipts: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a reader at some checkpoint is behind the feed's head.

    ``events``: committed events not yet read (None when the feed cannot count them).
    ``seconds``: age of the oldest event not yet read, 0.0 when caught up (None: unknown).
    """

    events: int | None
    seconds: float | None


class Feed(Protocol):
    """An ordered source of committed events (SQLite tail, DynamoDB Streams, Kinesis, SQS).

    Ordering: a feed may deliver events out of order and more than once; the router's
    per-stream version check makes that harmless. Several subscriptions may poll the same
    feed concurrently from different threads, each with its own checkpoint.
    """

    name: str

    def poll(self, checkpoint: str, *, limit: int = 500, timeout: float = 1.0) -> FeedBatch:
        """Up to ``limit`` events after ``checkpoint`` (``BEGINNING``: from the start).

        Returns at once when events are available; otherwise waits up to ``timeout``
        seconds for new ones WITHOUT busy polling, then returns an empty batch whose
        checkpoint equals ``checkpoint``. The same checkpoint always yields the same events
        again (a log) until acked (a queue). Raises StoreUnavailable on a transient failure.
        """
        ...

    def ack(self, batch: FeedBatch) -> None:
        """Tell a queue-like feed the batch is done (delete the messages); no-op for logs."""
        ...

    def lag(self, checkpoint: str) -> Lag:
        """How far ``checkpoint`` is behind the feed's head (cheap: used for metrics)."""
        ...

    def wake(self) -> None:
        """Make every waiting :meth:`poll` return early (used to stop readers promptly)."""
        ...


# -- targets -----------------------------------------------------------------------------
class Target(Protocol):
    """Where a subscription's events go: a projection, a reaction, a queue, a webhook.

    :meth:`apply` receives a batch in which each stream's events are consecutive versions
    in ascending order, starting right after the last version applied for that stream
    (streams may be interleaved). It either returns (every event handled) or raises.

    Raising: ``DeliveryFailed(retryable=False)``, ``CodecError`` / ``UnknownEventType``
    park the stream at once; anything else is retried with backoff, then parks. After a
    failure the router re-applies smaller batches (one stream at a time) to find the
    failing stream, so EVERY event of a failed batch may be applied again: a target must
    either apply a batch atomically (one transaction) or make re-application harmless
    (an effects ledger keyed by ``event.key``). The same holds after a crash: delivery is
    at-least-once; exactly-once EFFECTS are the target's job, helped by the versions.
    """

    name: str

    def apply(self, events: Sequence[RecordedEvent]) -> None: ...


@runtime_checkable
class TracksVersions(Protocol):
    """A target that commits each stream's last applied version in the SAME transaction as
    its effects (the SQL projection). The router then asks it, not :class:`AppliedVersions`,
    and a crash between effect and bookkeeping cannot happen."""

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        """The last applied version of each stream (streams never applied may be left out,
        meaning 0). Reads committed data only. The router takes the larger of this and
        what :class:`AppliedVersions` recorded (an operator's ``skip`` is recorded there)."""
        ...


Plan = Callable[[Mapping[str, int]], Sequence[RecordedEvent]]
"""The router's planning step: the last applied version of each stream -> the events to
apply, in order (duplicates dropped, gaps healed from the event store)."""


@runtime_checkable
class PlansInTransaction(Protocol):
    """A :class:`TracksVersions` target that lets the router plan a batch INSIDE its own
    transaction, so its versions are read once per batch, by the transaction that then
    writes them (the SQL projection). The router still reads :class:`AppliedVersions`
    beside, where an operator's skips are kept."""

    def apply_planned(self, stream_ids: Collection[str], plan: Plan) -> None:
        """In ONE transaction: read the last applied version of each of ``stream_ids``
        (absent: 0), call ``plan`` with them, apply the events it returns exactly as
        :meth:`Target.apply` would, and commit. An exception from ``plan`` rolls back and
        propagates."""
        ...


@runtime_checkable
class Rebuildable(Protocol):
    """A version-tracking target that can be rebuilt from the event store.

    ``eventfold rebuild`` calls :meth:`begin_rebuild` (fresh, empty shadow tables; from now
    on :meth:`Target.apply` of the object it returns works on the shadow), applies every
    event of :meth:`EventStore.scan` through it in big batches (each stream's events once,
    in version order), then :meth:`RebuildSession.finish` swaps the shadow in atomically (or
    :meth:`RebuildSession.abort` drops it). The live target keeps serving until the swap.
    """

    def begin_rebuild(self) -> RebuildSession: ...


class RebuildSession(Target, Protocol):
    """The shadow copy of a rebuildable target, being filled from the event store."""

    def finish(self) -> None:
        """Swap the shadow tables in for the live ones (one transaction)."""
        ...

    def abort(self) -> None:
        """Drop the shadow tables; the live ones are untouched."""
        ...


# -- subscriptions -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries in place, for a router without an :class:`OutagePolicy` (a Lambda
    invocation, an operator's redrive): exponential backoff with full jitter, attempt n
    waits ``uniform(0, min(max_delay, base_delay * 2**(n-1)))`` seconds. After
    ``attempts`` failed attempts the stream parks."""

    attempts: int = 5
    base_delay: float = 0.05
    max_delay: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class OutagePolicy:
    """How a long-running worker rides out a target's outage (a partner's deploy, a
    database failover) without holding up other streams or parking at once.

    A stream whose target fails with a retryable error is SET ASIDE: its events, and later
    ones of the same stream, wait in memory while other streams flow; it is tried again
    after a delay that doubles from ``first_delay`` up to ``max_delay`` (full jitter), and
    PARKS once ``park_after`` seconds have passed since its first failure. The worker's
    checkpoint stays before the events set aside until they are done or parked, so a
    crash replays them rather than losing them. Parked streams are then redriven every
    ``retry_parked_every`` seconds (0: never) until they go through or an operator skips
    them. Without a policy (a Lambda invocation, an operator's redrive) the router retries
    in place (:class:`RetryPolicy`) and parks when that fails."""

    park_after: float = 300.0
    first_delay: float = 0.5
    max_delay: float = 30.0
    retry_parked_every: float = 600.0

    def __post_init__(self) -> None:
        if min(self.park_after, self.first_delay, self.max_delay, self.retry_parked_every) < 0:
            raise ValueError("OutagePolicy durations must not be negative")

    def delay(self, attempt: int) -> float:
        """The longest wait before retry number ``attempt`` (1: the first retry)."""
        return min(self.max_delay, self.first_delay * 2.0 ** min(attempt - 1, 60))


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a subscription wants; an empty field matches everything.

    ``categories``: stream categories (``"reservation"`` for ``reservation-42``).
    ``event_types``: recorded type names. ``metadata``: every key must have that value.
    Events that do not match still advance the stream's version for the subscription
    (they are simply not handed to the target).
    """

    categories: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def wants_stream(self, category: str) -> bool:
        return not self.categories or category in self.categories

    def matches(self, event: RecordedEvent) -> bool:
        if not self.wants_stream(event.category):
            return False
        if self.event_types and event.type not in self.event_types:
            return False
        if not self.metadata:
            return True
        return all(event.metadata.get(k) == v for k, v in self.metadata.items())


@dataclass(frozen=True, slots=True)
class Subscription:
    """A named, independent consumer of the feed: its own checkpoint, versions and parked
    streams. ``name`` must stay stable (it keys the router state); ``batch_size`` caps
    the events handed to one :meth:`Target.apply`."""

    name: str
    target: Target
    filter: EventFilter = field(default_factory=EventFilter)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = 500

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"subscription name {self.name!r} must be non-empty, no spaces")


# -- the router's state ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParkedStream:
    """A stream parked for one subscription: why, since when, and what waits."""

    subscription: str
    stream_id: str
    reason: str
    parked_at: datetime
    first_version: int
    last_version: int
    count: int


class Checkpoints(Protocol):
    """Where each subscription resumes the feed. Thread-safe: each subscription's runner
    calls it from its own thread; rebuilds and operators' tools from other processes."""

    def checkpoint(self, subscription: str) -> str:
        """The feed checkpoint the subscription resumes from (``BEGINNING`` if none)."""
        ...

    def advance(self, subscription: str, expected: str, checkpoint: str) -> bool:
        """Set the checkpoint to ``checkpoint`` only if it is still ``expected``; False
        when someone else (a rebuild, an operator) moved it, so the runner must reload."""
        ...

    def reset(self, subscription: str, checkpoint: str) -> None:
        """Set the checkpoint unconditionally (rebuild hand-over, operators)."""
        ...


class AppliedVersions(Protocol):
    """The last version applied per (subscription, stream), kept by the router for targets
    that do not track their own; for those that do (:class:`TracksVersions`) only what an
    operator skipped is recorded here. Thread-safe, like :class:`Checkpoints`."""

    def applied_versions(self, subscription: str, stream_ids: Collection[str]) -> dict[str, int]:
        """The last version recorded per stream (absent: none)."""
        ...

    def record_applied(self, subscription: str, versions: Mapping[str, int]) -> None:
        """Record these versions as applied (never lowers a recorded version)."""
        ...


class ParkingLot(Protocol):
    """Streams parked per subscription, and the events waiting on them in version order.
    Thread-safe, like :class:`Checkpoints`."""

    def park(
        self, subscription: str, stream_id: str, events: Sequence[RecordedEvent], reason: str
    ) -> None:
        """Park the stream (if not yet) and add ``events`` to what waits (idempotent per
        version). The reason of the first park is kept."""
        ...

    def parked_streams(self, subscription: str) -> set[str]:
        """The ids of the streams parked for the subscription (cheap: called per batch)."""
        ...

    def list_parked(self, subscription: str | None = None) -> list[ParkedStream]:
        """Every parked stream (of one subscription, or all), oldest first."""
        ...

    def parked_events(self, subscription: str, stream_id: str) -> list[RecordedEvent]:
        """The events waiting on a parked stream, in version order."""
        ...

    def unpark(self, subscription: str, stream_id: str, through_version: int) -> bool:
        """Drop the waiting events up to ``through_version``; unpark the stream when none
        are left (True) — False when newer events were parked meanwhile."""
        ...
