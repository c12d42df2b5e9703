"""What the router tells the outside world: metrics and warnings, through one small protocol.

The core stays free of metrics/logging libraries; ``eventfold.entry.telemetry`` implements
:class:`RouterObserver` with structlog + Prometheus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eventfold.core.router.ports import Lag
from eventfold.domain.events import RecordedEvent


class RouterObserver(Protocol):
    """Called from the subscription's thread; implementations must be quick and thread-safe."""

    def applied(self, subscription: str, events: Sequence[RecordedEvent]) -> None:
        """These events were handed to the target successfully."""
        ...

    def duplicates(self, subscription: str, count: int) -> None:
        """``count`` events were skipped as already applied."""
        ...

    def gap_healed(
        self,
        subscription: str,
        stream_id: str,
        last_applied: int,
        received: int,
        fetched: int,
        *,
        correlation_id: str | None = None,
    ) -> None:
        """``received`` arrived while ``last_applied`` was the last applied version;
        ``fetched`` missing events were read back from the event store. ``correlation_id``:
        the received event's (its command's id)."""
        ...

    def retrying(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        attempt: int,
        error: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        """Applying from ``version`` failed (``attempt`` so far); the router will retry.
        ``correlation_id``: that event's (the command's, for the first event of a chain)."""
        ...

    def parked(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        reason: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        """The stream was parked at ``version`` (whose event has ``correlation_id``)."""
        ...

    def lag(self, subscription: str, lag: Lag) -> None:
        """The subscription's current lag behind its feed."""
        ...

    def failed(self, subscription: str, error: str) -> None:
        """The feed, the event store or the router state failed; the batch will be retried."""
        ...


class NullObserver:
    """Observes nothing (tests, tools)."""

    def applied(self, subscription: str, events: Sequence[RecordedEvent]) -> None:
        pass

    def duplicates(self, subscription: str, count: int) -> None:
        pass

    def gap_healed(
        self,
        subscription: str,
        stream_id: str,
        last_applied: int,
        received: int,
        fetched: int,
        *,
        correlation_id: str | None = None,
    ) -> None:
        pass

    def retrying(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        attempt: int,
        error: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        pass

    def parked(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        reason: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        pass

    def lag(self, subscription: str, lag: Lag) -> None:
        pass

    def failed(self, subscription: str, error: str) -> None:
        pass
