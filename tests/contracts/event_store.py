"""The EventStore contract: every store adapter passes these tests.

Use it by subclassing in the adapter's test module and providing a ``store`` fixture::

    class TestSqliteStore(EventStoreContract):
        @pytest.fixture
        def store(self, tmp_path): return SqliteEventStore(tmp_path / "events.db")
"""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from eventfold import (
    ConcurrencyConflict,
    EventData,
    EventStore,
    StreamWrite,
)


def event(n: int, *, kind: str = "Happened") -> EventData:
    return EventData(kind, f'{{"n":{n}}}'.encode(), schema=1, metadata={"n": str(n)})


def write(stream: str, expected: int, *events: EventData, state: bytes = b"{}") -> StreamWrite:
    return StreamWrite(stream, expected, list(events), state, "test/1")


class EventStoreContract:
    @pytest.fixture
    def store(self) -> EventStore:
        raise NotImplementedError("an adapter's test class provides the store fixture")

    def test_a_new_stream_gets_versions_from_one(self, store: EventStore) -> None:
        commit = store.append(write("order-1", 0, event(1), event(2), state=b"s2"))
        assert commit.versions == {"order-1": 2}
        assert not commit.duplicate
        recorded = store.read("order-1")
        assert [e.version for e in recorded] == [1, 2]
        assert [e.data for e in recorded] == [b'{"n":1}', b'{"n":2}']
        assert all(e.stream_id == "order-1" and e.type == "Happened" for e in recorded)
        assert recorded[1].metadata == {"n": "2"}
        assert recorded[0].schema == 1

    def test_the_state_row_is_the_snapshot(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1), state=b"one"))
        store.append(write("order-1", 1, event(2), state=b"two"))
        snapshot = store.load("order-1")
        assert snapshot is not None
        assert (snapshot.version, snapshot.state, snapshot.fold) == (2, b"two", "test/1")

    def test_unknown_streams_are_empty(self, store: EventStore) -> None:
        assert store.load("order-404") is None
        assert store.read("order-404") == []

    def test_appending_to_an_existing_stream_as_new_conflicts(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1)))
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append(write("order-1", 0, event(9)))
        assert caught.value.stream_id == "order-1"
        assert caught.value.actual == 1
        assert [e.data for e in store.read("order-1")] == [b'{"n":1}']

    def test_a_stale_expected_version_conflicts_and_writes_nothing(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1), event(2), state=b"two"))
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append(write("order-1", 1, event(3), state=b"bad"))
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert [e.version for e in store.read("order-1")] == [1, 2]
        snapshot = store.load("order-1")
        assert snapshot is not None
        assert snapshot.state == b"two"

    def test_an_expected_version_ahead_of_the_stream_conflicts(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1)))
        with pytest.raises(ConcurrencyConflict):
            store.append(write("order-1", 5, event(6)))
        with pytest.raises(ConcurrencyConflict):
            store.append(write("order-2", 3, event(4)))
        assert store.read("order-2") == []

    def test_a_multi_stream_append_is_atomic(self, store: EventStore) -> None:
        store.append(write("stock-a", 0, event(1)))
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append(write("order-1", 0, event(1)), write("stock-a", 0, event(2)))
        assert caught.value.stream_id == "stock-a"
        assert store.read("order-1") == []
        assert store.load("order-1") is None
        commit = store.append(write("order-1", 0, event(1)), write("stock-a", 1, event(2)))
        assert commit.versions == {"order-1": 1, "stock-a": 2}

    def test_read_after_a_version_with_a_limit(self, store: EventStore) -> None:
        store.append(write("order-1", 0, *[event(n) for n in range(1, 8)]))
        assert [e.version for e in store.read("order-1", after_version=3)] == [4, 5, 6, 7]
        assert [e.version for e in store.read("order-1", after_version=2, limit=2)] == [3, 4]
        assert store.read("order-1", after_version=7) == []

    def test_binary_payloads_round_trip(self, store: EventStore) -> None:
        blob = bytes(range(256))
        store.append(write("order-1", 0, EventData("Blob", blob, schema=3)))
        (recorded,) = store.read("order-1")
        assert (recorded.data, recorded.schema, recorded.type) == (blob, 3, "Blob")

    def test_recorded_at_is_timezone_aware(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1)))
        (recorded,) = store.read("order-1")
        assert isinstance(recorded.recorded_at, datetime)
        assert recorded.recorded_at.utcoffset() is not None

    def test_a_repeated_command_id_returns_the_first_commit(self, store: EventStore) -> None:
        first = store.append(write("order-1", 0, event(1)), command_id="cmd-1", fingerprint="f")
        again = store.append(write("order-1", 1, event(2)), command_id="cmd-1", fingerprint="f")
        assert again.duplicate
        assert again.versions == first.versions == {"order-1": 1}
        assert [e.version for e in store.read("order-1")] == [1]
        found = store.find_commit("cmd-1")
        assert found is not None
        assert found.versions == {"order-1": 1}
        assert store.find_commit("cmd-404") is None

    def test_a_command_id_reused_for_another_command_returns_the_first_commit(
        self, store: EventStore
    ) -> None:
        # The store writes nothing and hands back the recorded fingerprint: telling a retry
        # from a reuse is the command handler's job (one place), not each store's.
        store.append(write("order-1", 0, event(1)), command_id="cmd-1", fingerprint="f")
        again = store.append(write("order-2", 0, event(1)), command_id="cmd-1", fingerprint="g")
        assert again.duplicate
        assert again.fingerprint == "f"
        assert again.versions == {"order-1": 1}
        assert store.read("order-2") == []

    def test_a_failed_append_does_not_record_its_command_id(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1)))
        with pytest.raises(ConcurrencyConflict):
            store.append(write("order-1", 0, event(2)), command_id="cmd-1")
        assert store.find_commit("cmd-1") is None
        commit = store.append(write("order-1", 1, event(2)), command_id="cmd-1")
        assert not commit.duplicate
        assert commit.versions == {"order-1": 2}

    def test_scan_yields_every_event_once_in_stream_order(self, store: EventStore) -> None:
        store.append(write("order-1", 0, event(1), event(2)))
        store.append(write("order-2", 0, event(1)))
        store.append(write("order-1", 2, event(3)), write("order-3", 0, event(1)))
        seen: dict[str, list[int]] = {}
        for recorded in store.scan():
            seen.setdefault(recorded.stream_id, []).append(recorded.version)
        assert seen == {"order-1": [1, 2, 3], "order-2": [1], "order-3": [1]}

    def test_stream_versions_lists_every_stream_once_at_its_version(
        self, store: EventStore
    ) -> None:
        assert list(store.stream_versions()) == []
        store.append(write("order-1", 0, event(1), event(2)), command_id="cmd-9")
        store.append(write("order-2", 0, event(1)))
        store.append(write("order-1", 2, event(3)))
        assert sorted(store.stream_versions()) == [("order-1", 3), ("order-2", 1)]

    def test_concurrent_writers_never_leave_gaps(self, store: EventStore) -> None:
        writers, appends_each = 4, 5
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            done = 0
            while done < appends_each:
                snapshot = store.load("counter-1")
                version = snapshot.version if snapshot else 0
                try:
                    store.append(write("counter-1", version, event(n)))
                except ConcurrencyConflict:
                    continue
                except BaseException as exc:  # surfaced below
                    errors.append(exc)
                    return
                done += 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        versions = [e.version for e in store.read("counter-1")]
        assert versions == list(range(1, writers * appends_each + 1))
