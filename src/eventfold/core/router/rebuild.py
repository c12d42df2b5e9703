"""Rebuilding a projection from the event store, then handing over to the live feed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

from eventfold.core.ports import EventStore
from eventfold.core.router.ports import Checkpoints, Rebuildable, Subscription
from eventfold.core.router.router import describe
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError, DeliveryFailed

Progress = Callable[[int], None]
"""Told how many more events of the scan are done (applied or left out by the filter)."""


def _batches(events: Iterator[RecordedEvent], size: int) -> Iterator[list[RecordedEvent]]:
    while batch := list(islice(events, size)):
        yield batch


def rebuild(
    subscription: Subscription,
    store: EventStore,
    checkpoints: Checkpoints,
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
    handover = checkpoints.checkpoint(subscription.name)
    session = target.begin_rebuild()
    # No Router here: a scan yields each stream's events once, in version order, so there
    # is nothing to reorder, dedupe or heal, and any failure aborts the rebuild anyway.
    wanted = subscription.filter.matches
    applied = 0
    try:
        for batch in _batches(store.scan(), batch_size):
            chosen = [e for e in batch if wanted(e)]
            if chosen:
                try:
                    session.apply(chosen)
                except Exception as exc:
                    raise DeliveryFailed(
                        f"rebuild of {subscription.name!r} stopped in the batch from "
                        f"{chosen[0].key} to {chosen[-1].key}: {describe(exc)}; "
                        "the live tables are unchanged",
                        retryable=False,
                    ) from exc
            applied += len(chosen)
            progress(len(batch))
        session.finish()
    except BaseException:
        session.abort()
        raise
    checkpoints.reset(subscription.name, handover)
    return applied
