"""The router: one subscription's ordering, dedup, gap healing, retries and parking.

Per (subscription, stream) it knows the last applied version. For each delivered event:
version <= last -> duplicate, skipped; == last + 1 -> applied; > last + 1 -> a gap, healed
by reading the missing versions back from the event store and applying them first. A
failing stream is retried with exponential backoff + jitter, then PARKED: it and every later
event of that stream wait in the :class:`ParkingLot`, in order, while other streams flow.
With an :class:`OutagePolicy` (the long-running worker) the retries do not block: the
failing stream is set aside in memory and retried by :meth:`Router.retry_due` when its time
comes, while other streams flow; it parks only once the policy's window has passed.
Where the last versions come from is chosen once per router (``versions.py``): the target
keeps them, or the router does in :class:`AppliedVersions`.

The same :class:`Router` serves the long-running worker (one per subscription and thread),
a Lambda handler (one call of :meth:`Router.deliver` per invocation batch) and the
operators' ``parked redrive|skip`` commands.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from eventfold.core.ports import EventStore
from eventfold.core.redaction import redact
from eventfold.core.router.observer import NullObserver, RouterObserver
from eventfold.core.router.ports import AppliedVersions, OutagePolicy, ParkingLot, Subscription
from eventfold.core.router.versions import PlannedByTarget, VersionKeeping, keep_versions
from eventfold.domain.events import CORRELATION_ID, RecordedEvent
from eventfold.errors import CodecError, DeliveryFailed

Sleep = Callable[[float], None]
"""Waits between retries; may raise :class:`Stopping` to abandon the batch."""

WAITING_BEHIND = "waiting behind an earlier parked event"


class _TooBig(Exception):
    """The plan holds more events than one batch (healed gaps): apply it in chunks."""


class Stopping(Exception):
    """Raised by a :data:`Sleep` when the worker stops: the batch is abandoned undone."""


@dataclass
class Delivery:
    """What one :meth:`Router.deliver` did. ``parked`` lists (stream id, version) of every
    event parked by this call; nothing delivered is ever silently dropped. ``set_aside``:
    the streams whose events this call left waiting in memory for a retry (an
    :class:`OutagePolicy`); ``resolved``: streams set aside before that are now done or
    parked (:meth:`Router.retry_due`)."""

    applied: int = 0
    duplicates: int = 0
    healed: int = 0
    parked: list[tuple[str, int]] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    def add(self, other: Delivery) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.healed += other.healed
        self.parked.extend(other.parked)
        self.set_aside.extend(other.set_aside)
        self.resolved.extend(other.resolved)


@dataclass
class _SetAside:
    """A failing stream waiting for its next try: its events by version, when it first
    failed, how many tries failed, when the next is due (clock seconds) and the last error."""

    events: dict[int, RecordedEvent]
    first_failure: float
    attempts: int
    due: float
    reason: str


def is_retryable(error: BaseException) -> bool:
    """Codec errors and ``DeliveryFailed(retryable=False)`` park at once; the rest retry."""
    if isinstance(error, CodecError):
        return False
    return not (isinstance(error, DeliveryFailed) and not error.retryable)


def describe(error: BaseException) -> str:
    """The error as logged and stored as a park reason: credentials masked (a webhook's
    URL with user:password@ or a token appeared in logs and in ``eventfold parked``)."""
    return redact(f"{type(error).__name__}: {error}")


class Router:
    """Routes events to ONE subscription. Not thread-safe: one router per thread.

    ``versions`` records the last applied versions when the target keeps none (and an
    operator's skips either way); ``parking`` holds the parked streams.
    """

    def __init__(
        self,
        subscription: Subscription,
        store: EventStore,
        *,
        versions: AppliedVersions,
        parking: ParkingLot,
        observer: RouterObserver | None = None,
        sleep: Sleep = time.sleep,
        jitter: Callable[[], float] = random.random,
        outages: OutagePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.subscription = subscription
        self.name = subscription.name
        self.target = subscription.target
        self.store = store
        self.parking = parking
        self.observer: RouterObserver = observer or NullObserver()
        self._sleep = sleep
        self._jitter = jitter
        self.outages = outages
        self._clock = clock
        self._set_aside: dict[str, _SetAside] = {}
        keeping = keep_versions(self.name, self.target, versions)
        self.keeping: VersionKeeping = keeping
        # The one thing a keeping changes in how a batch goes: planned in the target's
        # transaction, or planned here and applied in chunks.
        self._planner = keeping if isinstance(keeping, PlannedByTarget) else None

    def forget(self) -> None:
        """Drop every cached version and every stream set aside (after someone else moved
        the checkpoint: the feed delivers their events again from there)."""
        self.keeping.forget_all()
        self._set_aside.clear()

    # -- delivering -----------------------------------------------------------------------
    def deliver(self, events: Iterable[RecordedEvent]) -> Delivery:
        """Handle a batch from a feed (any order, duplicates allowed).

        Returns once every event is applied, skipped as a duplicate or parked; only then
        may the feed's checkpoint move past the batch. Raises only when the parking lot,
        the applied versions or the event store fail, or a target that plans in its own
        transaction cannot begin it (nothing is then reported done), or on :class:`Stopping`.
        """
        report = Delivery()
        by_stream, repeated = self._group(events)
        if repeated:
            report.duplicates += repeated
            self.observer.duplicates(self.name, repeated)
        for stream_id in self._set_aside.keys() & by_stream.keys():
            held = self._set_aside[stream_id].events
            for event in by_stream.pop(stream_id):
                held.setdefault(event.version, event)
            report.set_aside.append(stream_id)
        if not by_stream:
            return report
        parked = self.parking.parked_streams(self.name) & by_stream.keys()
        if parked:
            self._wait_behind(parked, by_stream, report)
        matches = self.subscription.filter.matches
        planned = None
        # A batch that cannot fit one target batch is planned outside (planning twice would
        # read a gap twice and report it twice).
        fits = sum(map(len, by_stream.values())) <= self.subscription.batch_size
        planner = self._planner
        if planner and fits and any(matches(e) for evs in by_stream.values() for e in evs):
            planned = self._apply_planned(planner, by_stream, report)
        if planned is None:
            lasts = self.keeping.last_versions(by_stream.keys())
            plans = {s: self._plan(s, evs, lasts.get(s, 0), report) for s, evs in by_stream.items()}
            failed = self._apply_chunks(plans, report)
        else:
            plans, failed = planned
        # A stream whose last events the filter left out is done through them too (what the
        # target applied is known already).
        for stream_id, plan in plans.items():
            if plan and stream_id not in failed and not matches(plan[-1]):
                self.keeping.passed_over(stream_id, plan[-1].version)
        self.keeping.flush()
        return report

    def _wait_behind(
        self, parked: set[str], by_stream: dict[str, list[RecordedEvent]], report: Delivery
    ) -> None:
        """The events of parked streams join the parking lot, behind the parked ones, except
        those applied before the stream parked: a late duplicate (a queue or an async
        invocation delivers out of order) is skipped, not parked a second time."""
        for stream_id in parked:
            self.keeping.forget(stream_id)
        lasts = self.keeping.last_versions(parked)
        for stream_id in parked:
            self.keeping.forget(stream_id)  # a parked stream keeps nothing cached
            waiting = by_stream.pop(stream_id)
            fresh = [e for e in waiting if e.version > lasts.get(stream_id, 0)]
            if len(fresh) < len(waiting):
                report.duplicates += len(waiting) - len(fresh)
                self.observer.duplicates(self.name, len(waiting) - len(fresh))
            if fresh:
                self.parking.park(self.name, stream_id, fresh, WAITING_BEHIND)
                report.parked.extend((stream_id, e.version) for e in fresh)

    def _wanted(self, plans: dict[str, list[RecordedEvent]]) -> list[RecordedEvent]:
        matches = self.subscription.filter.matches
        return [e for plan in plans.values() for e in plan if matches(e)]

    def _apply_chunks(self, plans: dict[str, list[RecordedEvent]], report: Delivery) -> set[str]:
        """Hand the planned events to the target in batches; the streams of a failed batch
        go one at a time. Returns the streams that took that slow path."""
        wanted = self._wanted(plans)
        failed: set[str] = set()
        size = self.subscription.batch_size
        for start in range(0, len(wanted), size):
            chunk = [e for e in wanted[start : start + size] if e.stream_id not in failed]
            if not chunk:
                continue
            try:
                self.target.apply(chunk)
            except Stopping:
                raise
            except Exception:
                self._redo_streams(chunk, plans, failed, report)
                continue
            self._done(chunk, report)
        return failed

    def _redo_streams(
        self,
        chunk: Sequence[RecordedEvent],
        plans: dict[str, list[RecordedEvent]],
        failed: set[str],
        report: Delivery,
    ) -> None:
        for stream_id in dict.fromkeys(e.stream_id for e in chunk):
            failed.add(stream_id)
            self._deliver_stream(stream_id, plans[stream_id], report, defer=True)

    def _apply_planned(
        self, planner: PlannedByTarget, by_stream: dict[str, list[RecordedEvent]], report: Delivery
    ) -> tuple[dict[str, list[RecordedEvent]], set[str]] | None:
        """Plan and apply the batch in the target's own transaction (one read of the
        versions). None: the plan is bigger than a batch; the caller applies it in chunks
        (planning again outside, from the same versions; a gap healed in the first plan is
        then read and reported once more: rare, as batches that do not fit are planned
        outside from the start). A failure before the plan was
        made propagates (as a failing version read would); a failure applying it sends
        the batch's streams one at a time."""
        plans: dict[str, list[RecordedEvent]] = {}
        wanted: list[RecordedEvent] = []
        counted = (report.duplicates, report.healed)
        made: list[bool] = []  # one True once the plan is made

        def plan(lasts: Mapping[str, int]) -> Sequence[RecordedEvent]:
            for stream_id, events in by_stream.items():
                plans[stream_id] = self._plan(stream_id, events, lasts.get(stream_id, 0), report)
            wanted.extend(self._wanted(plans))
            made.append(True)
            if len(wanted) > self.subscription.batch_size:
                raise _TooBig
            return wanted

        try:
            planner.apply_planned(list(by_stream), plan)
        except Stopping:
            raise
        except _TooBig:
            report.duplicates, report.healed = counted
            return None
        except Exception:
            if not made:
                raise  # the versions could not be read, or planning failed
            failed: set[str] = set()
            self._redo_streams(wanted, plans, failed, report)
            return plans, failed
        self._done(wanted, report)
        return plans, set()

    def _group(self, events: Iterable[RecordedEvent]) -> tuple[dict[str, list[RecordedEvent]], int]:
        """The wanted streams' events in version order, and how many repeats were dropped."""
        by_stream: dict[str, dict[int, RecordedEvent]] = defaultdict(dict)
        wants = self.subscription.filter.wants_stream
        seen = 0
        for event in events:
            if wants(event.category):
                seen += 1
                by_stream[event.stream_id].setdefault(event.version, event)
        grouped = {s: [evs[v] for v in sorted(evs)] for s, evs in by_stream.items()}
        return grouped, seen - sum(len(evs) for evs in grouped.values())

    def _last_version(self, stream_id: str) -> int:
        return self.keeping.last_versions([stream_id]).get(stream_id, 0)

    def _plan(
        self, stream_id: str, events: list[RecordedEvent], last: int, report: Delivery
    ) -> list[RecordedEvent]:
        """The events to apply, in order, from ``last + 1``: duplicates dropped, gaps
        filled from the event store."""
        fresh = [e for e in events if e.version > last]
        duplicates = len(events) - len(fresh)
        if duplicates:
            report.duplicates += duplicates
            self.observer.duplicates(self.name, duplicates)
        if not fresh:
            return []
        top = fresh[-1].version
        if fresh[0].version == last + 1 and len(fresh) == top - last:
            return fresh
        healed = self.store.read(stream_id, last, limit=top - last)
        fetched = len(healed) - len(fresh)
        report.healed += fetched
        self.observer.gap_healed(
            self.name,
            stream_id,
            last,
            fresh[0].version,
            fetched,
            correlation_id=_correlation_id(fresh),
        )
        return healed

    # -- one stream, when a batch failed ----------------------------------------------------
    def _deliver_stream(
        self,
        stream_id: str,
        events: Sequence[RecordedEvent],
        report: Delivery,
        *,
        defer: bool = False,
        before: _SetAside | None = None,
        attempts: int | None = None,
    ) -> None:
        """Apply one stream's events one at a time with retries; park from the failing one.
        ``defer`` (with an outage policy): set the stream aside instead of retrying in
        place; ``before``: how it was set aside until now; ``attempts``: in-place tries
        (default: the subscription's retry policy)."""
        retry = self.subscription.retry
        tries = retry.attempts if attempts is None else attempts
        attempt = 0
        while True:
            last = self._last_version(stream_id)
            todo = [e for e in events if e.version > last]
            try:
                for event in todo:
                    if self.subscription.filter.matches(event):
                        self.target.apply([event])
                        self._done([event], report)
                    else:
                        self.keeping.passed_over(stream_id, event.version)
                return
            except Stopping:
                raise
            except Exception as error:
                attempt += 1
                last = self._last_version(stream_id)
                remaining = [e for e in events if e.version > last]
                version = remaining[0].version if remaining else last
                if not is_retryable(error):
                    self._park(stream_id, remaining, describe(error), report)
                    return
                if defer and self.outages is not None:
                    self._set_stream_aside(stream_id, remaining, describe(error), report, before)
                    return
                if attempt >= tries:
                    self._park(stream_id, remaining, describe(error), report)
                    return
                self.observer.retrying(
                    self.name,
                    stream_id,
                    version,
                    attempt,
                    describe(error),
                    correlation_id=_correlation_id(remaining),
                )
                ceiling = min(retry.max_delay, retry.base_delay * 2 ** (attempt - 1))
                self._sleep(ceiling * self._jitter())

    def _set_stream_aside(
        self,
        stream_id: str,
        events: Sequence[RecordedEvent],
        reason: str,
        report: Delivery,
        before: _SetAside | None,
    ) -> None:
        """Keep a failing stream's events in memory for a later try, or park it once the
        outage policy's window since its first failure has passed."""
        assert self.outages is not None
        now = self._clock()
        first = now if before is None else before.first_failure
        attempt = 1 if before is None else before.attempts + 1
        if now - first >= self.outages.park_after:
            self._park(stream_id, events, reason, report)
            return
        due = now + self.outages.delay(attempt) * self._jitter()
        self.keeping.flush()
        self.keeping.forget(stream_id)
        self._set_aside[stream_id] = _SetAside(
            {e.version: e for e in events}, first, attempt, due, reason
        )
        report.set_aside.append(stream_id)
        version = events[0].version if events else 0
        self.observer.retrying(
            self.name, stream_id, version, attempt, reason, correlation_id=_correlation_id(events)
        )

    def retry_due(self) -> Delivery:
        """Try again each stream set aside whose time has come (its events, and those that
        arrived for it meanwhile, in order). ``resolved`` lists the streams now done or
        parked; the others are set aside again with a longer delay."""
        report = Delivery()
        now = self._clock()
        for stream_id, aside in list(self._set_aside.items()):
            if aside.due > now:
                continue
            del self._set_aside[stream_id]
            self.keeping.forget(stream_id)
            waiting = [aside.events[v] for v in sorted(aside.events)]
            plan = self._plan(stream_id, waiting, self._last_version(stream_id), report)
            self._deliver_stream(stream_id, plan, report, defer=True, before=aside)
            if stream_id not in self._set_aside:
                report.resolved.append(stream_id)
        self.keeping.flush()
        return report

    def next_retry(self) -> float | None:
        """When (clock seconds) the next stream set aside is due; None: none is."""
        return min((a.due for a in self._set_aside.values()), default=None)

    def _park(
        self, stream_id: str, events: Sequence[RecordedEvent], reason: str, report: Delivery
    ) -> None:
        self.keeping.flush()
        self.keeping.forget(stream_id)
        self.parking.park(self.name, stream_id, events, reason)
        report.parked.extend((stream_id, e.version) for e in events)
        version = events[0].version if events else 0
        self.observer.parked(
            self.name, stream_id, version, reason, correlation_id=_correlation_id(events)
        )

    def _done(self, events: Sequence[RecordedEvent], report: Delivery) -> None:
        report.applied += len(events)
        self.observer.applied(self.name, events)
        self.keeping.applied(events)

    # -- operators ---------------------------------------------------------------------------
    def redrive(self, stream_id: str, *, attempts: int | None = None) -> Delivery:
        """Re-apply a parked stream's events in order, then unpark it. If it fails again it
        stays parked (the report says so); events parked meanwhile are redriven too.
        ``attempts``: tries in place (default: the subscription's retry policy)."""
        report = Delivery()
        while True:
            waiting = self.parking.parked_events(self.name, stream_id)
            if not waiting:
                self.parking.unpark(self.name, stream_id, 0)
                return report
            self.keeping.forget(stream_id)
            last = self._last_version(stream_id)
            plan = self._plan(stream_id, waiting, last, report)
            before = len(report.parked)
            self._deliver_stream(stream_id, plan, report, attempts=attempts)
            self.keeping.flush()
            if len(report.parked) > before:
                return report
            if self.parking.unpark(self.name, stream_id, waiting[-1].version):
                return report

    def skip(self, stream_id: str) -> int:
        """Give up on a parked stream's waiting events: record them as handled without
        applying them and unpark. Returns how many were skipped."""
        waiting = self.parking.parked_events(self.name, stream_id)
        through = waiting[-1].version if waiting else 0
        if through:
            self.keeping.skip(stream_id, through)
        self.parking.unpark(self.name, stream_id, through)
        return len(waiting)


def _correlation_id(events: Sequence[RecordedEvent]) -> str | None:
    """The first event's correlation id (its command's id), for the lines about it."""
    return events[0].metadata.get(CORRELATION_ID) if events else None
