"""The Feed contract: every feed adapter passes these tests.

Subclass in the adapter's test module and provide two fixtures: ``feed`` (the adapter) and
``publish`` (a callable appending ``count`` events to a stream through whatever the feed
reads, e.g. the event store it tails)::

    class TestSqliteFeed(FeedContract):
        @pytest.fixture
        def feed(self, store): return SqliteFeed(store)
        @pytest.fixture
        def publish(self, store): return lambda stream, count: ...

Queue-like feeds (SQS) set ``replays = False``: a checkpoint does not replay acked events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from eventfold.core.router.ports import BEGINNING, Feed, FeedBatch

Publish = Callable[[str, int], None]


def drain(feed: Feed, checkpoint: str = BEGINNING, *, limit: int = 100) -> tuple[list[str], str]:
    """Every event key from ``checkpoint`` on (acking each batch), and the final checkpoint."""
    keys: list[str] = []
    for _ in range(1000):
        batch = feed.poll(checkpoint, limit=limit, timeout=0.2)
        if not batch.events:
            return keys, checkpoint
        keys.extend(e.key for e in batch.events)
        feed.ack(batch)
        checkpoint = batch.checkpoint
    raise AssertionError("the feed never ran dry")


class FeedContract:
    replays = True

    @pytest.fixture
    def feed(self) -> Feed:
        raise NotImplementedError("an adapter's test class provides the feed fixture")

    @pytest.fixture
    def publish(self) -> Publish:
        raise NotImplementedError("an adapter's test class provides the publish fixture")

    def test_an_empty_feed_returns_an_empty_batch_at_the_same_checkpoint(self, feed: Feed) -> None:
        batch = feed.poll(BEGINNING, limit=10, timeout=0)
        assert isinstance(batch, FeedBatch)
        assert list(batch.events) == []
        assert batch.checkpoint == BEGINNING

    def test_every_committed_event_is_delivered(self, feed: Feed, publish: Publish) -> None:
        publish("order-1", 3)
        publish("order-2", 2)
        keys, _ = drain(feed)
        assert set(keys) == {"order-1:1", "order-1:2", "order-1:3", "order-2:1", "order-2:2"}

    def test_each_stream_is_delivered_in_version_order(self, feed: Feed, publish: Publish) -> None:
        publish("order-1", 5)
        keys, _ = drain(feed, limit=2)
        assert [k for k in keys if k.startswith("order-1:")] == [
            f"order-1:{v}" for v in range(1, 6)
        ]

    def test_limit_caps_a_batch(self, feed: Feed, publish: Publish) -> None:
        publish("order-1", 5)
        batch = feed.poll(BEGINNING, limit=2, timeout=0.5)
        assert 1 <= len(batch.events) <= 2

    def test_polling_from_the_last_checkpoint_returns_only_newer_events(
        self, feed: Feed, publish: Publish
    ) -> None:
        publish("order-1", 2)
        _, checkpoint = drain(feed)
        publish("order-1", 1)
        keys, _ = drain(feed, checkpoint)
        assert keys == ["order-1:3"]

    def test_a_checkpoint_replays_what_follows_it(self, feed: Feed, publish: Publish) -> None:
        if not self.replays:
            pytest.skip("a queue does not replay acked messages")
        publish("order-1", 3)
        first = feed.poll(BEGINNING, limit=1, timeout=0.5)
        again, _ = drain(feed, first.checkpoint)
        once_more, _ = drain(feed, first.checkpoint)
        assert again == once_more == ["order-1:2", "order-1:3"]

    def test_a_waiting_poll_returns_a_new_commit(self, feed: Feed, publish: Publish) -> None:
        publish("order-1", 1)
        _, checkpoint = drain(feed)
        later = threading.Timer(0.2, publish, ("order-1", 1))
        later.start()
        try:
            batch = feed.poll(checkpoint, limit=10, timeout=10)
        finally:
            later.join()
        assert [e.key for e in batch.events] == ["order-1:2"]

    def test_wake_ends_a_waiting_poll(self, feed: Feed) -> None:
        batches: list[FeedBatch] = []
        # Waits far longer than the join below: only wake() can end it in time.
        poller = threading.Thread(
            target=lambda: batches.append(feed.poll(BEGINNING, limit=10, timeout=600)),
            daemon=True,
        )
        poller.start()
        waker = threading.Timer(0.2, feed.wake)
        waker.start()
        waker.join()
        poller.join(timeout=60)
        assert not poller.is_alive(), "wake() did not end the waiting poll"
        assert [list(b.events) for b in batches] == [[]]

    def test_lag_counts_what_is_not_yet_read(self, feed: Feed, publish: Publish) -> None:
        publish("order-1", 3)
        behind = feed.lag(BEGINNING)
        assert behind.events in (None, 3)
        assert behind.seconds is None or behind.seconds >= 0
        _, checkpoint = drain(feed)
        caught_up = feed.lag(checkpoint)
        assert caught_up.events in (None, 0)
        assert caught_up.seconds in (None, 0.0)
