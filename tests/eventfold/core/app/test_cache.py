from __future__ import annotations

from eventfold.core.app.cache import StateCache


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
