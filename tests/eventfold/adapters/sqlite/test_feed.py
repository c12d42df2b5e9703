from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from eventfold import EventData, RecordedEvent, SqliteEventStore, StreamWrite
from eventfold.adapters.sqlite.feed import SqliteFeed, position_of
from eventfold.core.router.ports import BEGINNING
from eventfold.errors import ConfigurationError
from tests.contracts.feed import FeedContract, Publish
from tests.sqlite_support import needs_proc_fds, wal_syncs


class TestSqliteFeed(FeedContract):
    @pytest.fixture
    def feed(self, store: SqliteEventStore) -> SqliteFeed:
        return SqliteFeed(store, poll_interval=0.05)

    @pytest.fixture
    def publish(self, store: SqliteEventStore) -> Publish:
        def publish(stream_id: str, count: int) -> None:
            snapshot = store.load(stream_id)
            version = snapshot.version if snapshot else 0
            events = [EventData("Happened", b"{}") for _ in range(count)]
            store.append(StreamWrite(stream_id, version, events, b"{}", "t/1"))

        return publish


def test_commits_from_another_process_are_seen_by_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader_store = SqliteEventStore(tmp_path / "events.db")
    writer = SqliteEventStore(tmp_path / "events.db")  # no listener: like another process
    feed = SqliteFeed(reader_store, poll_interval=0.02)
    # Commit only after the poll has found nothing, so it must read again to see it.
    read_all = reader_store.read_all
    first_read_empty = threading.Event()

    def reading(after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        events = read_all(after_position, limit)
        if not events:
            first_read_empty.set()
        return events

    monkeypatch.setattr(reader_store, "read_all", reading)

    def commit_elsewhere() -> None:
        first_read_empty.wait(5)
        writer.append(StreamWrite("order-1", 0, [EventData("Happened", b"{}")], b"{}", "t/1"))

    thread = threading.Thread(target=commit_elsewhere)
    thread.start()
    started = time.monotonic()
    batch = feed.poll("", limit=10, timeout=10)
    waited = time.monotonic() - started
    thread.join()

    assert first_read_empty.is_set()
    assert [e.key for e in batch.events] == ["order-1:1"]
    assert batch.checkpoint == "1"
    # Seen by a poll, not by the re-read after the 10 s timeout ran out.
    assert waited < 5, f"the commit was seen after {waited:.1f} s"


@pytest.mark.parametrize("bad", ["x", "-3", "1.5"])
def test_a_bad_checkpoint_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="not a SQLite feed position"):
        position_of(bad)


def _commit(store: SqliteEventStore, stream_id: str, count: int) -> None:
    snapshot = store.load(stream_id)
    version = snapshot.version if snapshot else 0
    events = [EventData("Happened", b"%d" % (version + n)) for n in range(count)]
    store.append(StreamWrite(stream_id, version, events, b"{}", "t/1"))


Step = tuple[str, int, int]  # ("commit", stream number, count) or ("poll", reader, limit)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # a reader behind the window must leave it as it is
    window=2,
    steps=[("commit", 0, 4), ("poll", 0, 2), ("poll", 0, 2), ("poll", 1, 2), ("poll", 2, 1)],
)
@given(
    window=st.integers(min_value=1, max_value=6),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("commit"), st.integers(0, 2), st.integers(1, 4)),
            st.tuples(st.just("poll"), st.integers(0, 3), st.integers(1, 5)),
        ),
        max_size=40,
    ),
)
def test_readers_sharing_the_window_see_what_the_store_holds(
    tmp_path_factory: pytest.TempPathFactory, window: int, steps: list[Step]
) -> None:
    store = SqliteEventStore(tmp_path_factory.mktemp("window") / "events.db")
    feed = SqliteFeed(store, poll_interval=0.01, window=window)
    checkpoints = [BEGINNING] * 4
    seen: list[list[tuple[int | None, bytes]]] = [[] for _ in checkpoints]

    def poll(reader: int, limit: int) -> int:
        batch = feed.poll(checkpoints[reader], limit=limit, timeout=0)
        expected = store.read_all(position_of(checkpoints[reader]), limit)
        got = [(e.position, e.data) for e in batch.events]
        # From the window a poll may give fewer than the store holds, never others.
        assert got == [(e.position, e.data) for e in expected][: len(got)]
        assert bool(got) == bool(expected)
        seen[reader] += got
        checkpoints[reader] = batch.checkpoint
        return len(got)

    for action, number, amount in steps:
        if action == "commit":
            _commit(store, f"s-{number}", amount)
        else:
            poll(number, amount)
    for reader in range(len(checkpoints)):
        while poll(reader, 1000):
            pass
    everything = [(e.position, e.data) for e in store.read_all(0, 10_000)]
    for events in seen:
        assert events == everything
    store.close()


def store_reads(
    store: SqliteEventStore, monkeypatch: pytest.MonkeyPatch, *, pause: float = 0.0
) -> list[int]:
    """The positions the store is read after from now on (each read ``pause`` s long)."""
    reads: list[int] = []
    read_all = store.read_all

    def counted(after: int, limit: int = 1000) -> list[RecordedEvent]:
        reads.append(after)
        time.sleep(pause)
        return read_all(after, limit)

    monkeypatch.setattr(store, "read_all", counted)
    return reads


def test_a_reader_following_another_is_served_from_the_window(
    store: SqliteEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _commit(store, "s-1", 10)
    feed = SqliteFeed(store, window=100)
    reads = store_reads(store, monkeypatch)
    leader = feed.poll(BEGINNING, limit=10, timeout=0)
    followers = [feed.poll(BEGINNING, limit=4, timeout=0) for _ in range(5)]
    assert reads == [0]  # one store read for six subscriptions
    assert [e.position for e in followers[0].events] == [e.position for e in leader.events][:4]
    _commit(store, "s-1", 2)
    assert len(feed.poll(leader.checkpoint, timeout=0).events) == 2  # new commits: the store
    assert reads == [0, 10]


def test_subscriptions_woken_by_one_commit_read_it_once_and_share_its_events(
    store: SqliteEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router's subscriptions poll the head together: one store read, the same event
    objects for all (so each event is decoded once, see RecentDecodes)."""
    _commit(store, "s-1", 3)
    feed = SqliteFeed(store, window=100)
    reads = store_reads(store, monkeypatch, pause=0.05)  # the others arrive meanwhile
    start = threading.Barrier(4)
    batches: list[list[RecordedEvent]] = []

    def subscription() -> None:
        start.wait(timeout=10)
        batches.append(list(feed.poll(BEGINNING, timeout=0).events))

    threads = [threading.Thread(target=subscription) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert reads == [0]
    assert len(batches) == 4
    assert all(all(a is b for a, b in zip(batch, batches[0], strict=True)) for batch in batches)


@needs_proc_fds
def test_events_read_from_the_store_are_on_disk_before_they_are_handed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's commit is visible before its append has synced the WAL: the feed
    syncs it before a target acts on it (and only when it read from the store)."""
    store = SqliteEventStore(tmp_path / "events.db")
    _commit(store, "s-1", 2)
    feed = SqliteFeed(store, poll_interval=0.01)
    syncs = wal_syncs(monkeypatch)
    batch = feed.poll(BEGINNING, timeout=0)
    assert len(batch.events) == 2
    assert len(syncs) == 1
    assert not feed.poll(batch.checkpoint, timeout=0).events
    assert len(syncs) == 1  # nothing read: nothing to sync
    store.close()
