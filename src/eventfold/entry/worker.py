"""Running the router: the services' subscriptions on a feed, and their periodic jobs.

Used by ``eventfold worker`` (its own process), by ``eventfold run``'s tests (in-process, as
a background runner started and stopped with the HTTP app) and by the operations commands.
Which feed and router state (:class:`RouterParts`) the settings name is decided by the
composition root (:func:`eventfold.entry.composition.router_parts`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Protocol

import structlog

from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.ports import EventStore
from eventfold.core.router.observer import RouterObserver
from eventfold.core.router.ports import (
    BEGINNING,
    AppliedVersions,
    Checkpoints,
    Feed,
    FeedBatch,
    Lag,
    OutagePolicy,
    ParkingLot,
    Subscription,
)
from eventfold.core.router.worker import Worker
from eventfold.entry.http import StopRunner
from eventfold.entry.service import Job, Service, ServiceContext
from eventfold.entry.telemetry import Telemetry
from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from eventfold.adapters.aws.router_state import DynamoDBRouterState

log = structlog.stdlib.get_logger("eventfold.jobs")


def subscriptions_of(services: Sequence[Service], context: ServiceContext) -> list[Subscription]:
    """Every installed service's subscriptions, checked to be :class:`Subscription` values
    with unique names."""
    found: list[Subscription] = []
    for service in services:
        for item in service.subscriptions(context):
            if not isinstance(item, Subscription):
                raise ConfigurationError(
                    f"service {service.name!r} returned {type(item).__name__} from its "
                    "subscriptions factory; return eventfold.router.Subscription values"
                )
            found.append(item)
    names = [s.name for s in found]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ConfigurationError(
            f"subscription names must be unique across services: {', '.join(clashes)} "
            "used more than once; rename one (the name keys its checkpoint)"
        )
    return found


def jobs_of(services: Sequence[Service], context: ServiceContext) -> list[Job]:
    """Every installed service's periodic jobs."""
    return [job for service in services for job in service.jobs(context)]


def start_jobs(jobs: Sequence[Job], timeout: float = 10.0) -> StopRunner:
    """One daemon thread per job, running it every ``job.every`` seconds (first after one
    period); returns the function that stops them (a running job finishes first, waited
    for up to ``timeout`` seconds in all, as the router's stop does)."""
    stopping = threading.Event()

    def repeat(job: Job) -> None:
        while not stopping.wait(job.every):
            try:
                job.run()
            except Exception:  # a failed round must not end the job: the next may succeed
                log.exception("job failed, runs again next period", job=job.name)

    threads = [
        threading.Thread(target=repeat, args=(job,), name=f"eventfold-job-{job.name}", daemon=True)
        for job in jobs
    ]
    for thread in threads:
        thread.start()

    def stop() -> None:
        stopping.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    return stop


class LiveFeed(Feed, Protocol):
    """A feed that can also say where it is now (``eventfold tail`` starts there)."""

    def head(self) -> str:
        """The checkpoint after every event the feed holds now."""
        ...


class HeadOfFeed:
    """A feed whose head is found by ``find_head``: the DynamoDB Streams and Kinesis APIs
    name no "last sequence number", so a log's head is found by reading to its end (what
    the stream retains: GetRecords calls, no read units); a queue has no positions."""

    def __init__(self, feed: Feed, find_head: Callable[[Feed], str]) -> None:
        self.feed = feed
        self.name = feed.name
        self._find_head = find_head

    def poll(self, checkpoint: str, *, limit: int = 500, timeout: float = 1.0) -> FeedBatch:
        return self.feed.poll(checkpoint, limit=limit, timeout=timeout)

    def ack(self, batch: FeedBatch) -> None:
        self.feed.ack(batch)

    def lag(self, checkpoint: str) -> Lag:
        return self.feed.lag(checkpoint)

    def wake(self) -> None:
        self.feed.wake()

    def head(self) -> str:
        return self._find_head(self.feed)


def read_to_end(feed: Feed) -> str:
    """The checkpoint after the last record a log feed holds now (reads them all)."""
    checkpoint = BEGINNING
    while True:
        batch = feed.poll(checkpoint, limit=1000, timeout=0.0)
        if not batch.events and batch.checkpoint == checkpoint:
            return checkpoint
        checkpoint = batch.checkpoint


def queue_head(_: Feed) -> str:
    """A queue's checkpoint is always the beginning: reading is consuming."""
    return BEGINNING


@dataclass
class RouterParts:
    """The feed and the router's state (its three ports) for an event store."""

    feed: LiveFeed
    checkpoints: Checkpoints
    versions: AppliedVersions
    parking: ParkingLot
    closers: list[Callable[[], None]] = field(default_factory=list)
    poll_timeout: float = 0.5
    """How long a subscription's poll waits for events before it looks again."""
    linger: float = 0.0
    """After a batch smaller than a full one, how long a subscription waits before its
    next poll (``EVENTFOLD_ROUTER_LINGER``)."""
    outages: OutagePolicy = field(default_factory=OutagePolicy)
    """How the worker rides out a target's outage (from the settings)."""
    turn_wait: float = 0.0
    """How long a subscription waits for another to finish its batch
    (``EVENTFOLD_ROUTER_TURN_WAIT``; 0: none waits)."""

    @classmethod
    def on(
        cls,
        feed: LiveFeed,
        state: SqliteRouterState | DynamoDBRouterState,
        *,
        closers: Sequence[Callable[[], None]] = (),
        poll_timeout: float = 0.5,
        linger: float = 0.0,
    ) -> RouterParts:
        """The parts with one adapter serving the three ports."""
        return cls(feed, state, state, state, list(closers), poll_timeout, linger)

    def worker(
        self,
        subscriptions: Sequence[Subscription],
        store: EventStore,
        observer: RouterObserver | None = None,
    ) -> Worker:
        """A worker routing this feed to ``subscriptions`` with these parts' settings."""
        return Worker(
            subscriptions,
            self.feed,
            store,
            checkpoints=self.checkpoints,
            versions=self.versions,
            parking=self.parking,
            observer=observer,
            poll_timeout=self.poll_timeout,
            linger=self.linger,
            outages=self.outages,
            turn_wait=self.turn_wait,
        )

    def close(self) -> None:
        self.feed.wake()
        for close in self.closers:
            close()


OpenRouterParts = Callable[[], RouterParts]
"""Opens the feed and the router state (the composition root's ``router_parts``)."""


def start_router(
    services: Sequence[Service],
    context: ServiceContext,
    open_parts: OpenRouterParts,
    telemetry: Telemetry,
) -> StopRunner:
    """Start one thread per subscription and one per periodic job of the services (jobs
    run where events are routed, so EVENTFOLD_ROUTER=off leaves them to the worker);
    returns the function that stops them."""
    # Both factories before anything is opened or started: a failing one leaks nothing.
    subscriptions = subscriptions_of(services, context)
    jobs = jobs_of(services, context)
    parts = open_parts()
    telemetry.watch_parked(parts.parking, [s.name for s in subscriptions])
    worker = parts.worker(subscriptions, context.store, observer=telemetry)
    worker.start()
    stop_jobs = start_jobs(jobs)

    def stop() -> None:
        stop_jobs()
        worker.stop()
        parts.close()

    return stop


def run_until_signalled(
    services: Sequence[Service],
    context: ServiceContext,
    open_parts: OpenRouterParts,
    telemetry: Telemetry,
    *,
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Run the router until SIGTERM or SIGINT, then stop after the current batches."""
    stopping = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    stop = start_router(services, context, open_parts, telemetry)
    try:
        ready()
        while not stopping.wait(1.0):
            pass
    finally:
        stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
