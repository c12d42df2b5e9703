"""What an operator does to the router, shared by the ``eventfold`` operations commands and
the operator console: each subscription's status, parked streams, redrive and skip, the
audit against the event store and its heal.

Both front ends call these functions; neither holds logic of its own about parking. A
mistake (an unknown subscription, a stream that is not parked) is an
:class:`OperationRefused`, which the CLI prints as one line and the console as a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from eventfold.core.redaction import redact
from eventfold.core.router.audit import StreamBehind, audit, heal
from eventfold.core.router.observer import RouterObserver
from eventfold.core.router.ports import BEGINNING, ParkedStream, Subscription
from eventfold.core.router.router import Delivery, Router
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.worker import RouterParts, subscriptions_of
from eventfold.errors import EventfoldError


class OperationRefused(EventfoldError):
    """An operator's request that cannot be done as asked; the message says how to fix it."""


@dataclass(frozen=True)
class SubscriptionStatus:
    """Where a subscription is: its feed position, its lag and how many streams are parked."""

    name: str
    target: str
    position: str
    """The feed checkpoint it resumes from ("": the beginning)."""
    lag_events: int | None
    lag_seconds: float | None
    parked: int


@dataclass(frozen=True)
class Redriven:
    """What a redrive did: events applied, already applied, and whether it parked again
    (then ``failed_version`` and ``reason`` say where and why)."""

    subscription: str
    stream_id: str
    applied: int
    duplicates: int
    failed_version: int | None = None
    reason: str | None = None

    @property
    def unparked(self) -> bool:
        return self.failed_version is None


@dataclass
class Operations:
    """What an operations command or the console works on."""

    services: list[Service]
    context: ServiceContext
    parts: RouterParts
    subscriptions: dict[str, Subscription]

    def subscription(self, name: str) -> Subscription:
        if name not in self.subscriptions:
            known = ", ".join(sorted(self.subscriptions)) or "none"
            if self.parts.parking.list_parked(name):
                raise OperationRefused(
                    f"subscription {name!r} has parked streams but does not run with these "
                    "settings (a warning above names the missing setting, e.g. "
                    f"EVENTFOLD_WEBHOOKS); nothing was sent or marked done; running: {known}"
                )
            raise OperationRefused(
                f"no subscription named {name!r}; known: {known} (see `eventfold subscriptions`)"
            )
        return self.subscriptions[name]

    def router(self, subscription: Subscription, observer: RouterObserver | None = None) -> Router:
        """A router for an operator's redrive or skip of one of ``subscription``'s streams."""
        return Router(
            subscription,
            self.context.store,
            versions=self.parts.versions,
            parking=self.parts.parking,
            observer=observer,
        )

    def parked_subscription(self, name: str, stream: str) -> Subscription:
        """The subscription ``name``, once ``stream`` is known to be parked for it."""
        subscription = self.subscription(name)
        if stream not in self.parts.parking.parked_streams(name):
            raise not_parked(name, stream)
        return subscription

    # -- reading ----------------------------------------------------------------------
    def statuses(self) -> list[SubscriptionStatus]:
        """Every subscription's position, lag and parked count, by name."""
        found = []
        for name, sub in sorted(self.subscriptions.items()):
            checkpoint = self.parts.checkpoints.checkpoint(name)
            lag = self.parts.feed.lag(checkpoint)
            found.append(
                SubscriptionStatus(
                    name,
                    sub.target.name,
                    checkpoint,
                    lag.events,
                    lag.seconds,
                    len(self.parts.parking.parked_streams(name)),
                )
            )
        return found

    def committed_events(self) -> int | None:
        """How many events the feed holds from its beginning (None: it cannot count)."""
        return self.parts.feed.lag(BEGINNING).events

    def parked(self, subscription: str | None = None) -> list[ParkedStream]:
        """Every parked stream (of one subscription), oldest first, reasons redacted
        (reasons stored before they were redacted may hold secrets)."""
        if subscription is not None:
            self.subscription(subscription)
        return self.parked_anywhere(subscription)

    def select_parked(
        self, subscription: str | None = None, reason: str | None = None
    ) -> list[ParkedStream]:
        """The parked streams of one subscription (None: of all, including subscriptions
        that do not run with these settings) whose reason contains ``reason`` (any case)."""
        if subscription is not None and subscription not in self.subscriptions:
            self.subscription(subscription)  # says why it is unknown or not running
        found = self.parked_anywhere(subscription)
        if reason is not None:
            found = [p for p in found if reason.lower() in p.reason.lower()]
        return found

    def parked_anywhere(self, subscription: str | None = None) -> list[ParkedStream]:
        """Like :meth:`parked`, without checking the subscription runs here."""
        return [_redacted(p) for p in self.parts.parking.list_parked(subscription)]

    def parked_stream(self, subscription: str, stream: str) -> ParkedStream:
        for found in self.parked(subscription):
            if found.stream_id == stream:
                return found
        raise not_parked(subscription, stream)

    def parked_events(self, subscription: str, stream: str) -> list[RecordedEvent]:
        """The events waiting on a parked stream, in version order."""
        self.parked_stream(subscription, stream)
        return self.parts.parking.parked_events(subscription, stream)

    def codecs(self) -> dict[str, EventCodec]:
        """The codec of each stream category the installed services own."""
        return codecs_by_category(self.services)

    # -- acting -----------------------------------------------------------------------
    def redrive(
        self, subscription: str, stream: str, observer: RouterObserver | None = None
    ) -> Redriven:
        """Re-apply the waiting events of a parked stream in order, then unpark it; when it
        fails again it stays parked and the result says at which version and why."""
        sub = self.parked_subscription(subscription, stream)
        report = self.router(sub, observer=observer).redrive(stream)
        if not report.parked:
            return Redriven(subscription, stream, report.applied, report.duplicates)
        still = [p for p in self.parked(subscription) if p.stream_id == stream]
        return Redriven(
            subscription,
            stream,
            report.applied,
            report.duplicates,
            failed_version=report.parked[0][1],
            reason=still[0].reason if still else "unknown",
        )

    def skip(self, subscription: str, stream: str) -> int:
        """Mark a parked stream's waiting events handled without applying them, unpark it;
        returns how many were skipped."""
        sub = self.parked_subscription(subscription, stream)
        return self.router(sub).skip(stream)

    def audit(self, subscription: str) -> list[StreamBehind]:
        """The streams ``subscription`` is behind on compared with the event store."""
        sub = self.subscription(subscription)
        parts = self.parts
        return audit(sub, self.context.store, versions=parts.versions, parking=parts.parking)

    def heal(
        self, subscription: str, observer: RouterObserver | None = None
    ) -> tuple[list[StreamBehind], Delivery]:
        """Audit ``subscription`` and replay what it misses through the router (parked
        streams are left to a redrive); returns what was behind and what the router did."""
        behind = self.audit(subscription)
        sub = self.subscription(subscription)
        return behind, heal(self.router(sub, observer=observer), behind)


def not_parked(subscription: str, stream: str) -> OperationRefused:
    return OperationRefused(
        f"{stream} is not parked for {subscription} (see `eventfold parked list`)"
    )


def codecs_by_category(services: Sequence[Service]) -> dict[str, EventCodec]:
    return {category: s.codec for s in services for category in s.categories}


def _redacted(parked: ParkedStream) -> ParkedStream:
    return ParkedStream(
        parked.subscription,
        parked.stream_id,
        redact(parked.reason),
        parked.parked_at,
        parked.first_version,
        parked.last_version,
        parked.count,
    )


def operations_on(
    services: list[Service], context: ServiceContext, parts: RouterParts
) -> Operations:
    """:class:`Operations` on router parts that are already open (their owner closes them)."""
    found = subscriptions_of(services, context)
    return Operations(services, context, parts, {s.name: s for s in found})


def as_dict(status: SubscriptionStatus) -> dict[str, Any]:
    """A subscription's status as JSON data (``eventfold subscriptions --json``)."""
    record = asdict(status)
    return {"subscription": record.pop("name"), **record}
