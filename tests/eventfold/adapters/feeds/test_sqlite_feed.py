from __future__ import annotations

from pathlib import Path

import pytest

from eventfold import EventData, SqliteEventStore, StreamWrite
from eventfold.adapters.feeds.sqlite import SqliteFeed, position_of
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


def test_commits_from_another_process_are_seen_by_polling(tmp_path: Path) -> None:
    reader_store = SqliteEventStore(tmp_path / "events.db")
    writer = SqliteEventStore(tmp_path / "events.db")  # no listener: like another process
    feed = SqliteFeed(reader_store, poll_interval=0.02)
    writer.append(StreamWrite("order-1", 0, [EventData("Happened", b"{}")], b"{}", "t/1"))
    batch = feed.poll("", limit=10, timeout=5)
    assert [e.key for e in batch.events] == ["order-1:1"]
    assert batch.checkpoint == "1"


@pytest.mark.parametrize("bad", ["x", "-3", "1.5"])
def test_a_bad_checkpoint_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="not a SQLite feed position"):
        position_of(bad)
