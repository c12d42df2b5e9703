"""The public face of the read side: what applications use to subscribe to events.

A service's ``subscriptions`` factory returns :class:`Subscription` values naming a
:class:`Target`; the worker (``eventfold worker``, or ``eventfold run`` in-process) routes
events to them. Feeds and targets for other backends implement the same ports.
:func:`wait_until_applied` gives query routes read-your-writes over a version-tracking target;
:func:`audit` lists the streams a subscription is behind the event store on, :func:`heal`
catches them up through the router.
"""

from eventfold.core.router.audit import StreamBehind, audit, heal
from eventfold.core.router.freshness import applied_version, wait_until_applied
from eventfold.core.router.memory import MemoryRouterState
from eventfold.core.router.observer import NullObserver, RouterObserver
from eventfold.core.router.ports import (
    BEGINNING,
    AppliedVersions,
    Checkpoints,
    EventFilter,
    Feed,
    FeedBatch,
    Lag,
    OutagePolicy,
    ParkedStream,
    ParkingLot,
    Rebuildable,
    RebuildSession,
    RetryPolicy,
    Subscription,
    Target,
    TracksVersions,
)
from eventfold.core.router.rebuild import rebuild
from eventfold.core.router.router import Delivery, Router, Stopping
from eventfold.core.router.worker import SubscriptionRunner, Worker

__all__ = [
    "BEGINNING",
    "AppliedVersions",
    "Checkpoints",
    "Delivery",
    "EventFilter",
    "Feed",
    "FeedBatch",
    "Lag",
    "MemoryRouterState",
    "NullObserver",
    "OutagePolicy",
    "ParkedStream",
    "ParkingLot",
    "RebuildSession",
    "Rebuildable",
    "RetryPolicy",
    "Router",
    "RouterObserver",
    "Stopping",
    "StreamBehind",
    "Subscription",
    "SubscriptionRunner",
    "Target",
    "TracksVersions",
    "Worker",
    "applied_version",
    "audit",
    "heal",
    "rebuild",
    "wait_until_applied",
]
