"""The public face of the read side: what applications use to subscribe to events.

A service's ``subscriptions`` factory returns :class:`Subscription` values naming a
:class:`Target`; the worker (``eventfold worker``, or ``eventfold run`` in-process) routes
events to them. Feeds and targets for other backends implement the same ports.
:func:`wait_until_applied` gives query routes read-your-writes over a version-tracking target.
"""

from eventfold.core.router.freshness import applied_version, wait_until_applied
from eventfold.core.router.ports import (
    BEGINNING,
    EventFilter,
    Feed,
    FeedBatch,
    Lag,
    ParkedStream,
    Rebuildable,
    RebuildSession,
    RetryPolicy,
    RouterState,
    Subscription,
    Target,
    TracksVersions,
)

__all__ = [
    "BEGINNING",
    "EventFilter",
    "Feed",
    "FeedBatch",
    "Lag",
    "ParkedStream",
    "RebuildSession",
    "Rebuildable",
    "RetryPolicy",
    "RouterState",
    "Subscription",
    "Target",
    "TracksVersions",
    "applied_version",
    "wait_until_applied",
]
