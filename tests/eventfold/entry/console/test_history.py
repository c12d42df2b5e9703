"""The console's sampled history and its sparklines."""

from __future__ import annotations

import re

from eventfold.entry.console.history import History, Sampler, sparkline
from eventfold.entry.operations import SubscriptionStatus


def status(lag: int | None, name: str = "view") -> SubscriptionStatus:
    return SubscriptionStatus(name, name, "7", lag, 0.0 if lag == 0 else 1.5, 0)


def test_throughput_is_the_events_moved_past_per_second_between_samples() -> None:
    history = History(interval=1.0, window=10.0)
    history.record([status(5)], 10, {}, now=100.0)  # 5 of 10 done
    history.record([status(2)], 20, {}, now=102.0)  # 18 of 20 done: 13 in 2 s
    first, second = history.samples("view")
    assert first.throughput is None
    assert second.throughput == 6.5


def test_throughput_is_unknown_when_the_feed_cannot_count() -> None:
    history = History(interval=1.0, window=10.0)
    history.record([status(None)], None, {}, now=1.0)
    history.record([status(None)], None, {}, now=2.0)
    assert [s.throughput for s in history.samples("view")] == [None, None]


def test_freshness_is_the_mean_latency_of_what_was_applied_in_between() -> None:
    history = History(interval=1.0, window=10.0)
    history.record([status(0)], 0, {"view": (1.0, 10.0)}, now=1.0)
    history.record([status(0)], 0, {"view": (4.0, 40.0)}, now=2.0)  # 30 applied, 3 s
    history.record([status(0)], 0, {"view": (4.0, 40.0)}, now=3.0)  # nothing applied
    assert [s.freshness for s in history.samples("view")] == [None, 0.1, None]


def test_the_history_keeps_the_window_only() -> None:
    history = History(interval=2.0, window=10.0)
    for second in range(12):
        history.record([status(second)], 100, {}, now=float(second))
    kept = history.samples("view")
    assert history.size == 5
    assert [s.lag_events for s in kept] == [7, 8, 9, 10, 11]


def test_a_sampler_records_every_subscription() -> None:
    history = History(interval=1.0)
    sampler = Sampler(history, lambda: ([status(3, "a"), status(0, "b")], 9), clock=lambda: 5.0)
    sampler.sample()
    assert history.names() == ["a", "b"]
    assert history.samples("a")[0].lag_events == 3


def test_a_sparkline_scales_to_the_largest_value_and_leaves_gaps() -> None:
    svg = sparkline([0.0, 10.0, None, 5.0, 5.0], slots=5, width=40, height=20, label="a<b")
    lines = re.findall(r'<polyline points="([^"]+)"', svg)
    assert lines == ["0.0,18.0 10.0,2.0", "30.0,10.0 40.0,10.0"]
    assert '<circle cx="40.0" cy="10.0"' in svg
    assert "a&lt;b" in svg
    assert "a<b" not in svg


def test_a_young_history_is_drawn_at_the_right_end() -> None:
    svg = sparkline([1.0, 1.0], slots=5, width=40)
    assert re.findall(r'<polyline points="([^"]+)"', svg) == ["30.0,2.0 40.0,2.0"]
