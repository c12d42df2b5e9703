"""The last minutes of each subscription, sampled in the console's process, and the
inline SVG sparklines the subscriptions page draws from them.

A :class:`Sampler` thread reads every subscription's status every ``interval`` seconds
(the router state and the feed, which every process can read), so each HTTP process of
``eventfold run`` keeps the same history whichever of them answers a page's poll.
"""

from __future__ import annotations

import html
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from prometheus_client.parser import text_string_to_metric_families

from eventfold.entry.operations import SubscriptionStatus

log = structlog.stdlib.get_logger("eventfold.console")

DEFAULT_INTERVAL = 2.0
DEFAULT_WINDOW = 300.0
"""Five minutes of samples."""

StatusReader = Callable[[], tuple[list[SubscriptionStatus], int | None]]
"""Every subscription's status, and how many events the feed holds (None: unknown)."""

FreshnessReader = Callable[[], Mapping[str, tuple[float, float]]]
"""Per subscription, the sum and count of the router's commit-to-apply latencies so far
(its ``eventfold_router_freshness_seconds`` histogram); empty when there is no router."""


@dataclass(frozen=True)
class Sample:
    """One subscription at one moment. ``throughput``: events per second it moved past
    since the sample before; ``freshness``: mean seconds from commit to applied over that
    time (None: nothing applied, or unknown)."""

    at: float
    position: str
    lag_events: int | None
    lag_seconds: float | None
    throughput: float | None
    freshness: float | None
    parked: int


class History:
    """Samples per subscription, the newest ``window`` seconds of them. Thread-safe."""

    def __init__(self, *, interval: float = DEFAULT_INTERVAL, window: float = DEFAULT_WINDOW):
        self.interval = interval
        self.size = max(2, int(window / interval))
        """How many samples the window holds."""
        self._lock = threading.Lock()
        self._samples: dict[str, deque[Sample]] = {}
        self._done: dict[str, tuple[float, int]] = {}
        self._latency: dict[str, tuple[float, float]] = {}

    def record(
        self,
        statuses: Sequence[SubscriptionStatus],
        committed: int | None,
        latencies: Mapping[str, tuple[float, float]],
        now: float,
    ) -> None:
        with self._lock:
            for status in statuses:
                done = None
                if committed is not None and status.lag_events is not None:
                    done = committed - status.lag_events
                sample = Sample(
                    now,
                    status.position,
                    status.lag_events,
                    status.lag_seconds,
                    self._throughput(status.name, done, now),
                    self._freshness(status.name, latencies.get(status.name)),
                    status.parked,
                )
                samples = self._samples.setdefault(status.name, deque(maxlen=self.size))
                samples.append(sample)

    def _throughput(self, name: str, done: int | None, now: float) -> float | None:
        before = self._done.get(name)
        if done is None:
            return None
        self._done[name] = (now, done)
        if before is None or now <= before[0]:
            return None
        return max(0.0, (done - before[1]) / (now - before[0]))

    def _freshness(self, name: str, latency: tuple[float, float] | None) -> float | None:
        if latency is None:
            return None
        before = self._latency.get(name)
        self._latency[name] = latency
        if before is None or latency[1] <= before[1]:
            return None
        return (latency[0] - before[0]) / (latency[1] - before[1])

    def samples(self, name: str) -> list[Sample]:
        with self._lock:
            return list(self._samples.get(name, ()))

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._samples)


class Sampler:
    """Records a sample of every subscription into ``history`` every interval, in a daemon
    thread, until stopped (a failed read is logged; the next one may succeed)."""

    def __init__(
        self,
        history: History,
        read_statuses: StatusReader,
        read_freshness: FreshnessReader = dict,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.history = history
        self.read_statuses = read_statuses
        self.read_freshness = read_freshness
        self.clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eventfold-console", daemon=True)

    def sample(self) -> None:
        statuses, committed = self.read_statuses()
        self.history.record(statuses, committed, self.read_freshness(), self.clock())

    def start(self) -> Callable[[], None]:
        self._thread.start()
        return self.stop

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)

    def _run(self) -> None:
        failing = ""
        while True:
            try:
                self.sample()
                failing = ""
            except Exception as exc:  # the store may be briefly unavailable: sample later
                if str(exc) != failing:  # once per distinct failure, not every interval
                    log.exception("console sample failed; sampling again")
                failing = str(exc)
            if self._stopping.wait(self.history.interval):
                return


def sparkline(
    values: Sequence[float | None],
    *,
    slots: int = 0,
    width: int = 160,
    height: int = 36,
    label: str = "",
) -> str:
    """An inline SVG polyline of ``values`` (gaps where None), scaled to the largest and
    drawn right-aligned in ``slots`` places (the history's length: a young history fills
    the right end only); the last value is marked with a dot."""
    label = html.escape(label)
    known = [v for v in values if v is not None]
    top = max(known, default=0.0) or 1.0
    slots = max(slots, len(values), 2)
    step = width / (slots - 1)
    first = slots - len(values)
    segments: list[list[str]] = [[]]
    last: tuple[float, float] | None = None
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        x = round((first + i) * step, 1)
        y = round(height - 2 - (value / top) * (height - 4), 1)
        segments[-1].append(f"{x},{y}")
        last = (x, y)
    lines = "".join(
        f'<polyline points="{" ".join(s)}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
        for s in segments
        if len(s) > 1
    )
    dot = "" if last is None else f'<circle cx="{last[0]}" cy="{last[1]}" r="2.5"/>'
    title = f"<title>{label}</title>" if label else ""
    return (
        f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="{label}">{title}'
        f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" class="axis"/>'
        f"{lines}{dot}</svg>"
    )


FRESHNESS_METRIC = "eventfold_router_freshness_seconds"


def router_freshness(url: str, *, timeout: float = 2.0) -> FreshnessReader:
    """Reads the router process's freshness histogram from its metrics ``url`` (what
    ``eventfold run`` gives its HTTP processes); empty while that process does not answer."""

    def read() -> dict[str, tuple[float, float]]:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                text = response.read().decode()
        except OSError:
            return {}
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != FRESHNESS_METRIC:
                continue
            for sample in family.samples:
                name = sample.labels.get("subscription", "")
                if sample.name == FRESHNESS_METRIC + "_sum":
                    sums[name] = sample.value
                elif sample.name == FRESHNESS_METRIC + "_count":
                    counts[name] = sample.value
        return {name: (sums[name], counts[name]) for name in sums if name in counts}

    return read
