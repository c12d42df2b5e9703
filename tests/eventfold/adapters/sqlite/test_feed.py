from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from eventfold import EventData, RecordedEvent, SqliteEventStore, StreamWrite
from eventfold.adapters.sqlite.feed import SqliteFeed, position_of
from eventfold.errors import ConfigurationError
from tests.contracts.feed import FeedContract, Publish


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
