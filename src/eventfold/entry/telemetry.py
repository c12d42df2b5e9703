"""The router's metrics (Prometheus) and warnings (structlog).

One :class:`Telemetry` per process, holding its own ``CollectorRegistry`` (no process
globals); ``/metrics`` on the HTTP app and ``eventfold worker --metrics-port`` serve it.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from eventfold.core.router.ports import Lag, ParkingLot
from eventfold.domain.events import RecordedEvent

FRESHNESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)
LAG_WARNING_SECONDS = 30.0
LAG_WARNING_EVERY = 60.0


class ParkedStreams(Collector):
    """``eventfold_router_parked_streams{subscription}``, read from the parking lot when
    scraped (so it is right even when another process parked or redrove)."""

    def __init__(self, parking: ParkingLot, subscriptions: Sequence[str]) -> None:
        self.parking = parking
        self.subscriptions = list(subscriptions)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "eventfold_router_parked_streams",
            "Streams parked for a subscription (waiting for redrive or skip).",
            labels=["subscription"],
        )
        for name in self.subscriptions:
            family.add_metric([name], len(self.parking.parked_streams(name)))
        yield family


class Freshness(Collector):
    """``eventfold_router_freshness_seconds{subscription}``: seconds from an event's commit
    to its target having applied it, as a Prometheus histogram.

    Kept as plain counts and exported when scraped, because the router observes every event
    of every subscription: ``prometheus_client``'s ``Histogram.observe`` takes a lock and
    walks the buckets per value (2.6 us; four busy subscriptions and two events per
    reservation made that 4 % of the router process's CPU), this takes one lock per batch."""

    name = "eventfold_router_freshness_seconds"

    def __init__(self, buckets: Sequence[float] = FRESHNESS_BUCKETS) -> None:
        self.bounds = tuple(sorted(buckets))
        self._counts: dict[str, list[int]] = {}  # per bucket, the last one +Inf
        self._sums: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, subscription: str, seconds: Sequence[float]) -> None:
        """Count each of ``seconds`` in its bucket (``le``: the first bound >= it)."""
        if not seconds:  # as a Histogram never observed: no series yet
            return
        bounds = self.bounds
        with self._lock:
            counts = self._counts.get(subscription)
            if counts is None:
                counts = self._counts[subscription] = [0] * (len(bounds) + 1)
                self._sums[subscription] = 0.0
            total = self._sums[subscription]
            for value in seconds:
                counts[bisect_left(bounds, value)] += 1
                total += value
            self._sums[subscription] = total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            self.name,
            "From an event's commit to its target having applied it.",
            labels=["subscription"],
        )
        with self._lock:
            taken = [
                (name, list(counts), self._sums[name]) for name, counts in self._counts.items()
            ]
        limits = [*map(floatToGoString, self.bounds), "+Inf"]
        for name, counts, total in taken:
            cumulative, buckets = 0, []
            for limit, count in zip(limits, counts, strict=True):
                cumulative += count
                buckets.append((limit, float(cumulative)))
            family.add_metric([name], buckets, total)
        yield family


class RemoteMetrics(Collector):
    """The metrics another process serves (``eventfold run``'s router process), fetched
    from ``url`` when scraped, so the HTTP processes' ``/metrics`` shows the router's too.
    While that process is down (being restarted) it adds nothing."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                text = response.read().decode()
        except OSError:
            return
        yield from text_string_to_metric_families(text)


class Telemetry:
    """A RouterObserver that counts into Prometheus metrics and logs warnings."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        logger: Any = None,
        lag_warning_seconds: float = LAG_WARNING_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.log = logger or structlog.stdlib.get_logger("eventfold.router")
        self.lag_warning_seconds = lag_warning_seconds
        self._clock = clock
        self._warned_lag: dict[str, float] = {}
        self._lock = threading.Lock()
        label = ["subscription"]
        r = self.registry
        self.applied_total = Counter(
            "eventfold_router_applied_events", "Events handed to targets.", label, registry=r
        )
        self.duplicates_total = Counter(
            "eventfold_router_duplicate_events", "Events skipped as duplicates.", label, registry=r
        )
        self.gaps_total = Counter(
            "eventfold_router_gaps_healed", "Gaps healed from the event store.", label, registry=r
        )
        self.healed_total = Counter(
            "eventfold_router_healed_events", "Events read back to heal gaps.", label, registry=r
        )
        self.retries_total = Counter(
            "eventfold_router_retries", "Failed applies that were retried.", label, registry=r
        )
        self.parks_total = Counter(
            "eventfold_router_parks", "Streams parked (each time one parks).", label, registry=r
        )
        self.failures_total = Counter(
            "eventfold_router_failures",
            "Feed, store or router-state failures (the batch is retried).",
            label,
            registry=r,
        )
        self.lag_events = Gauge(
            "eventfold_router_lag_events", "Committed events not yet routed.", label, registry=r
        )
        self.lag_seconds = Gauge(
            "eventfold_router_lag_seconds",
            "Age of the oldest event not yet routed.",
            label,
            registry=r,
        )
        self.freshness = Freshness()
        r.register(self.freshness)

    def watch_parked(self, parking: ParkingLot, subscriptions: Sequence[str]) -> None:
        """Also export how many streams are parked per subscription."""
        self.registry.register(ParkedStreams(parking, subscriptions))

    # -- RouterObserver --------------------------------------------------------------------
    def applied(self, subscription: str, events: Sequence[RecordedEvent]) -> None:
        self.applied_total.labels(subscription).inc(len(events))
        now = self._clock()
        self.freshness.observe(
            subscription, [max(0.0, (now - e.recorded_at).total_seconds()) for e in events]
        )

    def duplicates(self, subscription: str, count: int) -> None:
        self.duplicates_total.labels(subscription).inc(count)

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
        self.gaps_total.labels(subscription).inc()
        self.healed_total.labels(subscription).inc(fetched)
        self.log.warning(
            "gap healed",
            subscription=subscription,
            stream=stream_id,
            last_applied=last_applied,
            received=received,
            fetched=fetched,
            correlation_id=correlation_id,
        )

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
        self.retries_total.labels(subscription).inc()
        self.log.info(
            "retrying",
            subscription=subscription,
            stream=stream_id,
            version=version,
            correlation_id=correlation_id,
            attempt=attempt,
            error=error,
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
        self.parks_total.labels(subscription).inc()
        self.log.warning(
            "stream parked",
            subscription=subscription,
            stream=stream_id,
            version=version,
            correlation_id=correlation_id,
            reason=reason,
            hint=f"eventfold parked show {subscription} {stream_id}",
        )

    def lag(self, subscription: str, lag: Lag) -> None:
        if lag.events is not None:
            self.lag_events.labels(subscription).set(lag.events)
        if lag.seconds is None:
            return
        self.lag_seconds.labels(subscription).set(lag.seconds)
        if lag.seconds < self.lag_warning_seconds:
            return
        now = time.monotonic()
        with self._lock:
            if now < self._warned_lag.get(subscription, 0.0):
                return
            self._warned_lag[subscription] = now + LAG_WARNING_EVERY
        self.log.warning(
            "subscription lagging",
            subscription=subscription,
            lag_seconds=round(lag.seconds, 3),
            lag_events=lag.events,
            threshold_seconds=self.lag_warning_seconds,
        )

    def failed(self, subscription: str, error: str) -> None:
        self.failures_total.labels(subscription).inc()
        self.log.error("router failure, retrying", subscription=subscription, error=error)
