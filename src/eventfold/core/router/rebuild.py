"""Rebuilding a projection from the event store, then handing over to the live feed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import islice

from eventfold.core.ports import EventStore
from eventfold.core.router.memory import MemoryRouterState
from eventfold.core.router.ports import Rebuildable, RetryPolicy, RouterState, Subscription
from eventfold.core.router.router import Router
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError, DeliveryFailed

Progress = Callable[[int], None]
"""Told how many more events were applied."""


def _batches(events: Iterator[RecordedEvent], size: int) -> Iterator[list[RecordedEvent]]:
    while batch := list(islice(events, size)):
        yield batch


def rebuild(
    subscription: Subscription,
    store: EventStore,
    state: RouterState,
    *,
    progress: Progress = lambda _: None,
    batch_size: int = 5000,
) -> int:
    """Fill fresh tables from ``store.scan()``, swap them in, and move the subscription's
    checkpoint back to where it was when the scan began: the live feed replays what came
    after, and the version check skips what the scan already applied. Returns the number
    of events applied. Any failing event aborts the rebuild (the live tables stay)."""
    target = subscription.target
    if not isinstance(target, Rebuildable):
        raise ConfigurationError(
            f"subscription {subscription.name!r} cannot be rebuilt: its target "
            f"{target.name!r} is not a rebuildable projection (no begin_rebuild)"
        )
    handover = state.checkpoint(subscription.name)
    session = target.begin_rebuild()
    shadow = replace(subscription, target=session, retry=RetryPolicy(1), batch_size=batch_size)
    router = Router(shadow, store, MemoryRouterState(), sleep=lambda _: None)
    applied = 0
    try:
        for batch in _batches(store.scan(), batch_size):
            report = router.deliver(batch)
            if report.parked:
                stream_id, version = report.parked[0]
                [parked] = router.state.list_parked()
                raise DeliveryFailed(
                    f"rebuild of {subscription.name!r} stopped at {stream_id}:{version}: "
                    f"{parked.reason}; the live tables are unchanged",
                    retryable=False,
                )
            applied += report.applied
            progress(len(batch))
        session.finish()
    except BaseException:
        session.abort()
        raise
    state.reset(subscription.name, handover)
    return applied
