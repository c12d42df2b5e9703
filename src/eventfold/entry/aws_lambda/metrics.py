"""The router's metrics on Lambda: what ``eventfold worker`` serves on ``/metrics``, written
as CloudWatch Embedded Metric Format (EMF) lines by AWS Lambda Powertools.

A Lambda function has no port to scrape, but every JSON line it prints in EMF becomes
CloudWatch metrics without an API call (no ``cloudwatch:PutMetricData`` permission, no
latency on the invocation). :class:`LambdaMetrics` is the router's observer on Lambda:
it collects during an invocation and :meth:`LambdaMetrics.published` flushes one EMF
document (one line) at its end, with the number of parked streams read from the parking
lot (so it is right whoever parked or redrove them).

Metrics (namespace ``POWERTOOLS_METRICS_NAMESPACE``, default ``eventfold``; dimension
``service`` = ``POWERTOOLS_SERVICE_NAME``, default ``eventfold-router``), named after the
worker's Prometheus series:

- ``AppliedEvents``, ``DuplicateEvents``, ``Retries``, ``Parks``, ``Failures`` (Count): the
  worker's ``eventfold_router_applied_events``, ``_duplicate_events``, ``_retries``,
  ``_parks``, ``_failures``;
- ``GapsHealed`` (Count, ``eventfold_router_gaps_healed``): a version arrived before one
  below it — out of order — and ``HealedEvents`` (Count, ``_healed_events``): the events
  read back from the event store to heal them;
- ``LagEvents`` / ``LagSeconds`` (``_lag_events`` / ``_lag_seconds``): the invocation's
  batch, its size and the age of its oldest event;
- ``FreshnessSeconds`` (``_freshness_seconds``): one value per applied event;
- ``ParkedStreams`` (Count, ``_parked_streams``): all subscriptions together.

Logging stays structlog's (:mod:`eventfold.entry.logs`): the lines about gaps, retries and
parks are written by the same :class:`~eventfold.entry.telemetry.Telemetry` observer as in
the worker, with the event's ``correlation_id`` and the invocation's ``aws_request_id``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from eventfold.core.router.observer import RouterObserver
from eventfold.core.router.ports import Lag, ParkingLot
from eventfold.domain.events import RecordedEvent

Event = TypeVar("Event")
"""What a Lambda handler is given: a mapping, or an EventBridge Pipe's array."""

DEFAULT_NAMESPACE = "eventfold"
DEFAULT_SERVICE = "eventfold-router"


class LambdaMetrics:
    """A RouterObserver that records EMF metrics for the current invocation and passes
    every call on to ``also`` (the worker's Telemetry, for its log lines)."""

    def __init__(
        self,
        parking: ParkingLot,
        subscriptions: Sequence[str],
        *,
        also: RouterObserver | None = None,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.parking = parking
        self.subscriptions = list(subscriptions)
        self.also = also
        self.namespace = environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
        self.service = environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE
        self._clock = clock
        self._lock = threading.Lock()
        self._metrics = self._new_metrics()

    def _new_metrics(self) -> EphemeralMetrics:
        # EphemeralMetrics: Powertools' Metrics shares its metric set between instances
        # (a process global); this one is this observer's own.
        return EphemeralMetrics(namespace=self.namespace, service=self.service)

    def _add(self, name: str, unit: MetricUnit, value: float) -> None:
        with self._lock:
            self._metrics.add_metric(name=name, unit=unit, value=value)

    def published(
        self, handler: Callable[[Event, Any], dict[str, Any]]
    ) -> Callable[[Event, Any], dict[str, Any]]:
        """``handler``, flushing this invocation's metrics (and the parked streams) as one
        EMF line on stdout when it ends, also when it raised."""

        @functools.wraps(handler)
        def handle(event: Event, context: Any) -> dict[str, Any]:
            try:
                return handler(event, context)
            finally:
                self.flush()

        return handle

    def flush(self) -> None:
        """Write the collected metrics and the parked-streams gauge, and start afresh."""
        try:
            parked = sum(len(self.parking.parked_streams(name)) for name in self.subscriptions)
        except Exception:  # the router state is down: the Failures metric says so already
            parked = None
        with self._lock:
            if parked is not None:
                self._metrics.add_metric(name="ParkedStreams", unit=MetricUnit.Count, value=parked)
            self._metrics.flush_metrics()
            self._metrics = self._new_metrics()

    # -- RouterObserver --------------------------------------------------------------------
    def applied(self, subscription: str, events: Sequence[RecordedEvent]) -> None:
        self._add("AppliedEvents", MetricUnit.Count, len(events))
        now = self._clock()
        for event in events:
            age = max(0.0, (now - event.recorded_at).total_seconds())
            self._add("FreshnessSeconds", MetricUnit.Seconds, age)
        if self.also is not None:
            self.also.applied(subscription, events)

    def duplicates(self, subscription: str, count: int) -> None:
        self._add("DuplicateEvents", MetricUnit.Count, count)
        if self.also is not None:
            self.also.duplicates(subscription, count)

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
        self._add("GapsHealed", MetricUnit.Count, 1)
        self._add("HealedEvents", MetricUnit.Count, fetched)
        if self.also is not None:
            self.also.gap_healed(subscription, stream_id, last_applied, received, fetched)

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
        self._add("Retries", MetricUnit.Count, 1)
        if self.also is not None:
            self.also.retrying(
                subscription, stream_id, version, attempt, error, correlation_id=correlation_id
            )

    def parked(
        self,
        subscription: str,
        stream_id: str,
        version: int,
        reason: str,
        *,
        correlation_id: str | None = None,
    ) -> None:
        self._add("Parks", MetricUnit.Count, 1)
        if self.also is not None:
            self.also.parked(
                subscription, stream_id, version, reason, correlation_id=correlation_id
            )

    def lag(self, subscription: str, lag: Lag) -> None:
        if lag.events is not None:
            self._add("LagEvents", MetricUnit.Count, lag.events)
        if lag.seconds is not None:
            self._add("LagSeconds", MetricUnit.Seconds, lag.seconds)
        if self.also is not None:
            self.also.lag(subscription, lag)

    def failed(self, subscription: str, error: str) -> None:
        self._add("Failures", MetricUnit.Count, 1)
        if self.also is not None:
            self.also.failed(subscription, error)
