"""Read-your-writes waiting, on a fake clock (no real time passes)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pytest

from eventfold import NotYetVisible
from eventfold.router import applied_version, wait_until_applied


class SlowProjection:
    """Applies one more version of one stream each time it is asked (a router catching up)."""

    def __init__(self, start: int = 0) -> None:
        self.version = start
        self.asked = 0

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        self.asked += 1
        seen = self.version
        self.version += 1
        return {"s-1": seen} if seen else {}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_at_once_when_the_version_is_visible() -> None:
    target = SlowProjection(start=5)
    time = FakeTime()
    got = wait_until_applied(target, "s-1", 3, timeout=2, clock=time.clock, sleep=time.sleep)
    assert (got, time.sleeps) == (5, [])


def test_waits_until_the_projection_catches_up_with_doubling_pauses() -> None:
    target = SlowProjection()
    time = FakeTime()
    got = wait_until_applied(
        target,
        "s-1",
        4,
        timeout=2,
        first_poll=0.001,
        max_poll=0.004,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert got == 4
    assert time.sleeps == [0.001, 0.002, 0.004, 0.004]


def test_timeout_raises_not_yet_visible_with_what_is_visible() -> None:
    class Stuck:
        def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
            return {"s-1": 2}

    time = FakeTime()
    with pytest.raises(NotYetVisible) as caught:
        wait_until_applied(Stuck(), "s-1", 3, timeout=0.05, clock=time.clock, sleep=time.sleep)
    error = caught.value
    assert (error.stream_id, error.wanted, error.visible) == ("s-1", 3, 2)
    assert time.now == pytest.approx(0.05)


def test_zero_timeout_looks_once() -> None:
    target = SlowProjection()
    time = FakeTime()
    with pytest.raises(NotYetVisible):
        wait_until_applied(target, "s-1", 1, timeout=0, clock=time.clock, sleep=time.sleep)
    assert (target.asked, time.sleeps) == (1, [])


def test_applied_version_of_an_unknown_stream_is_zero() -> None:
    assert applied_version(SlowProjection(), "s-1") == 0
