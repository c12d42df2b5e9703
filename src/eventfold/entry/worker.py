"""Composing the router: the installed services' subscriptions on the configured feed.

Used by ``eventfold worker`` (its own process), by ``eventfold run`` (in-process, as a
background runner started and stopped with the HTTP app) and by the operations commands.
The feed is ``EVENTFOLD_FEED`` (default: the store's own: the SQLite tail, or DynamoDB
Streams); the router state lives beside the store (the SQLite file, or the DynamoDB
checkpoints table), so every part of a deployment is chosen by settings.
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

from eventfold.adapters.feeds.sqlite import SqliteFeed
from eventfold.adapters.router_state.sqlite import SqliteRouterState
from eventfold.adapters.store.sqlite import SqliteEventStore
from eventfold.core.ports import EventStore
from eventfold.core.router.ports import (
    BEGINNING,
    AppliedVersions,
    Checkpoints,
    Feed,
    FeedBatch,
    Lag,
    ParkingLot,
    Subscription,
)
from eventfold.core.router.worker import Worker
from eventfold.entry.http import BackgroundRunner, StopRunner
from eventfold.entry.resources import read_side_database
from eventfold.entry.service import Job, Service, ServiceContext
from eventfold.entry.settings import Settings
from eventfold.entry.telemetry import Telemetry
from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
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

    @classmethod
    def on(
        cls,
        feed: LiveFeed,
        state: SqliteRouterState | DynamoDBRouterState,
        *,
        closers: Sequence[Callable[[], None]] = (),
        poll_timeout: float = 0.5,
    ) -> RouterParts:
        """The parts with one adapter serving the three ports."""
        return cls(feed, state, state, state, list(closers), poll_timeout)

    def close(self) -> None:
        self.feed.wake()
        for close in self.closers:
            close()


def router_parts(settings: Settings, store: EventStore) -> RouterParts:
    """The feed ``settings.router_feed`` names and the router state beside the store: in
    the embedded read side's SQLite file (:func:`read_side_database`), or in the DynamoDB
    checkpoints table."""
    if isinstance(store, SqliteEventStore):
        # The router's bookkeeping never needs an fsync of its own: a checkpoint lost to a
        # power cut only replays events, and the version checks and the effects ledger make
        # replays harmless. Only the event store pays for durability (EVENTFOLD_DURABILITY).
        state = SqliteRouterState(read_side_database(store), durability="normal")
        if settings.router_feed == "sqlite":
            return RouterParts.on(SqliteFeed(store), state, closers=[state.close])
        return RouterParts.on(_queue_feed(settings), state, closers=[state.close])
    dynamodb = _dynamodb_store(store, settings)
    from eventfold.adapters.aws.router_state import DynamoDBRouterState

    state_on_dynamodb = DynamoDBRouterState(dynamodb.client, dynamodb.tables)
    wait = max(0.5, settings.feed_poll_interval)  # one read per interval per subscription
    if settings.router_feed == "streams":
        feed = _streams_feed(settings, dynamodb)
        return RouterParts.on(feed, state_on_dynamodb, poll_timeout=wait)
    if settings.router_feed == "kinesis":
        feed = _kinesis_feed(settings, dynamodb)
        return RouterParts.on(feed, state_on_dynamodb, poll_timeout=wait)
    return RouterParts.on(_queue_feed(settings), state_on_dynamodb)


def _dynamodb_store(store: EventStore, settings: Settings) -> DynamoDBEventStore:
    no_feed = ConfigurationError(
        f"the router has no feed for a {type(store).__name__}: set EVENTFOLD_STORE to "
        f"sqlite or dynamodb (EVENTFOLD_STORE={settings.store})"
    )
    try:  # boto3 is the optional eventfold[aws] extra: without it there is no such store
        from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
    except ImportError:
        raise no_feed from None
    if not isinstance(store, DynamoDBEventStore):
        raise no_feed
    return store


def _streams_feed(settings: Settings, store: DynamoDBEventStore) -> LiveFeed:
    """The events table's DynamoDB stream, from its oldest record (TRIM_HORIZON): a new
    subscription on an older table gets the rest with `eventfold rebuild`."""
    from eventfold.adapters.aws.clients import dynamodb_streams_client
    from eventfold.adapters.aws.streams_feed import DynamoDBStreamsFeed, latest_stream_arn

    arn = latest_stream_arn(store.client, store.tables.events, store.backoff)
    streams = dynamodb_streams_client(
        region=store.client.meta.region_name, endpoint_url=settings.aws_endpoint_url
    )
    feed = DynamoDBStreamsFeed(streams, arn, poll_interval=settings.feed_poll_interval)
    return HeadOfFeed(feed, read_to_end)


def _kinesis_feed(settings: Settings, store: DynamoDBEventStore) -> LiveFeed:
    """The Kinesis data stream the events table streams into (out of order and twice is
    fine: the router heals from the events table)."""
    from eventfold.adapters.aws.clients import kinesis_client
    from eventfold.adapters.aws.kinesis_feed import KinesisFeed

    client = kinesis_client(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    feed = KinesisFeed(
        client,
        settings.kinesis_stream_name,
        events_table=store.tables.events,
        poll_interval=settings.feed_poll_interval,
    )
    return HeadOfFeed(feed, read_to_end)


def _queue_feed(settings: Settings) -> LiveFeed:
    """An SQS queue another router's SQS/SNS target fills (one queue per subscription)."""
    if settings.sqs_queue_url is None:  # load_settings refuses this already
        raise ConfigurationError("EVENTFOLD_FEED=sqs needs EVENTFOLD_SQS_QUEUE_URL")
    try:
        from eventfold.adapters.aws.compose import queue_feed
    except ImportError as exc:
        raise ConfigurationError(
            f"EVENTFOLD_FEED=sqs needs boto3 ({exc}): pip install 'eventfold[aws]'"
        ) from exc
    feed = queue_feed(
        settings.sqs_queue_url, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    return HeadOfFeed(feed, queue_head)


def start_router(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
) -> StopRunner:
    """Start one thread per subscription and one per periodic job of the services (jobs
    run where events are routed, so EVENTFOLD_ROUTER=off leaves them to the worker);
    returns the function that stops them."""
    # Both factories before anything is opened or started: a failing one leaks nothing.
    subscriptions = subscriptions_of(services, context)
    jobs = jobs_of(services, context)
    parts = router_parts(settings, context.store)
    telemetry.watch_parked(parts.parking, [s.name for s in subscriptions])
    worker = Worker(
        subscriptions,
        parts.feed,
        context.store,
        checkpoints=parts.checkpoints,
        versions=parts.versions,
        parking=parts.parking,
        observer=telemetry,
        poll_timeout=parts.poll_timeout,
    )
    worker.start()
    stop_jobs = start_jobs(jobs)

    def stop() -> None:
        stop_jobs()
        worker.stop()
        parts.close()

    return stop


def router_runner(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
) -> BackgroundRunner:
    """A background runner for the HTTP app: the router lives as long as the app."""
    return lambda: start_router(settings, services, context, telemetry)


def run_until_signalled(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
    *,
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Run the router until SIGTERM or SIGINT, then stop after the current batches."""
    stopping = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    stop = start_router(settings, services, context, telemetry)
    try:
        ready()
        while not stopping.wait(1.0):
            pass
    finally:
        stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
