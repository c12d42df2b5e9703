from __future__ import annotations

from eventfold.core.app.cache import CONTESTED_SECONDS, StateCache


def test_entries_are_per_fold_and_bounded() -> None:
    cache = StateCache(capacity=2)
    cache.put("a-1", "a/1", 1, "one")
    assert cache.get("a-1", "a/1") == (1, "one")
    assert cache.get("a-1", "a/2") is None
    cache.put("a-2", "a/1", 1, "x")
    cache.get("a-1", "a/1")  # a read does not keep an entry
    cache.put("a-1", "a/1", 2, "two")  # a write does: a-2 is now the oldest
    cache.put("a-3", "a/1", 1, "y")
    assert cache.get("a-2", "a/1") is None
    assert cache.get("a-1", "a/1") == (2, "two")
    assert cache.get("a-3", "a/1") == (1, "y")


def test_an_older_version_never_replaces_a_newer_one() -> None:
    cache = StateCache()
    cache.put("a-1", "a/1", 5, "five")
    cache.put("a-1", "a/1", 4, "four")
    assert cache.get("a-1", "a/1") == (5, "five")
    cache.forget("a-1")
    assert cache.get("a-1", "a/1") is None


def test_capacity_zero_caches_nothing() -> None:
    cache = StateCache(capacity=0)
    cache.put("a-1", "a/1", 1, "one")
    assert cache.get("a-1", "a/1") is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_contested_stream_keeps_no_state_for_a_while() -> None:
    clock = Clock()
    cache = StateCache(clock=clock)
    cache.put("a-1", "a/1", 1, "one")
    cache.contested("a-1")
    assert cache.get("a-1", "a/1") is None
    clock.now += CONTESTED_SECONDS - 0.1
    cache.put("a-1", "a/1", 3, "three")
    assert cache.get("a-1", "a/1") is None
    cache.put("a-2", "a/1", 1, "other")  # other streams are cached as before
    assert cache.get("a-2", "a/1") == (1, "other")
    clock.now += 0.2
    cache.put("a-1", "a/1", 4, "four")
    assert cache.get("a-1", "a/1") == (4, "four")


def test_a_new_conflict_starts_the_wait_again() -> None:
    clock = Clock()
    cache = StateCache(clock=clock)
    cache.contested("a-1")
    clock.now += CONTESTED_SECONDS - 0.1
    cache.contested("a-1")
    clock.now += 0.2
    cache.put("a-1", "a/1", 2, "two")
    assert cache.get("a-1", "a/1") is None


def test_contested_streams_are_bounded_by_the_capacity() -> None:
    cache = StateCache(capacity=2, clock=Clock())
    for stream_id in ("a-1", "a-2", "a-3"):
        cache.contested(stream_id)
    cache.put("a-1", "a/1", 1, "one")  # the oldest mark made room for a-3's
    cache.put("a-3", "a/1", 1, "three")
    assert cache.get("a-1", "a/1") == (1, "one")
    assert cache.get("a-3", "a/1") is None
