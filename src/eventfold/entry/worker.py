"""Composing the router: the installed services' subscriptions on the embedded feed.

Used by ``eventfold worker`` (its own process), by ``eventfold run`` (in-process, as a
background runner started and stopped with the HTTP app) and by the operations commands.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from eventfold.adapters.feeds.sqlite import SqliteFeed
from eventfold.adapters.router_state.sqlite import SqliteRouterState
from eventfold.adapters.store.sqlite import SqliteEventStore
from eventfold.core.ports import EventStore
from eventfold.core.router.ports import Subscription
from eventfold.core.router.worker import Worker
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import Settings
from eventfold.entry.telemetry import Telemetry
from eventfold.errors import ConfigurationError

StopRunner = Callable[[], None]


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


@dataclass
class RouterParts:
    """The feed and the router state for an event store."""

    feed: SqliteFeed
    state: SqliteRouterState

    def close(self) -> None:
        self.feed.wake()
        self.state.close()


def router_parts(settings: Settings, store: EventStore) -> RouterParts:
    """The embedded feed and router state (in the store's SQLite file)."""
    if not isinstance(store, SqliteEventStore):
        raise ConfigurationError(
            f"the worker tails the embedded SQLite store; EVENTFOLD_STORE={settings.store} "
            "has no feed here (use that backend's feed, e.g. the Lambda handlers on AWS)"
        )
    state = SqliteRouterState(
        store.path, durability=settings.durability, write_gate=store.write_gate
    )
    return RouterParts(SqliteFeed(store), state)


def start_router(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
) -> StopRunner:
    """Start one thread per subscription; returns the function that stops them."""
    subscriptions = subscriptions_of(services, context)
    parts = router_parts(settings, context.store)
    telemetry.watch_parked(parts.state, [s.name for s in subscriptions])
    worker = Worker(subscriptions, parts.feed, context.store, parts.state, observer=telemetry)
    worker.start()

    def stop() -> None:
        worker.stop()
        parts.close()

    return stop


def router_runner(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
) -> Callable[[], StopRunner]:
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
