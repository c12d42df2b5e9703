from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventfold import ConcurrencyConflict, SqliteEventStore, StoreError
from eventfold.adapters.sqlite.plumbing import Durability, FileWriteGate
from tests.contracts.event_store import EventStoreContract, event, write
from tests.sqlite_support import committed, gate_holder, needs_proc_fds, wal_syncs


class TestSqliteEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteEventStore]:
        store = SqliteEventStore(tmp_path / "events.db")
        yield store
        store.close()


def test_positions_follow_commit_order(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db")
    store.append(write("a-1", 0, event(1), event(2)))
    store.append(write("b-1", 0, event(1)))
    store.append(write("a-1", 2, event(3)))
    recorded = store.read_all()
    assert [(e.stream_id, e.version) for e in recorded] == [
        ("a-1", 1),
        ("a-1", 2),
        ("b-1", 1),
        ("a-1", 3),
    ]
    assert [e.position for e in recorded] == [1, 2, 3, 4]
    assert [e.version for e in store.read_all(after_position=2, limit=1)] == [1]
    assert store.head_position() == 4


def test_commit_listeners_hear_every_commit_but_not_failures(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db")
    heard: list[int] = []
    store.add_commit_listener(lambda: heard.append(store.head_position()))
    store.append(write("a-1", 0, event(1)))
    with pytest.raises(Exception, match="expected version"):
        store.append(write("a-1", 0, event(2)))
    store.append(write("a-1", 1, event(2)))
    assert heard == [1, 2]


def test_the_file_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    first = SqliteEventStore(path)
    first.append(write("a-1", 0, event(1)), command_id="c1")
    first.close()
    again = SqliteEventStore(path)
    assert [e.version for e in again.read("a-1")] == [1]
    assert again.find_commit("c1") is not None


def test_writers_sharing_a_gate_queue_on_it(tmp_path: Path) -> None:
    gate = threading.RLock()
    store = SqliteEventStore(tmp_path / "events.db", write_gate=gate)
    gate.acquire()  # another writer of this process holds the file
    writer = threading.Thread(target=lambda: store.append(write("a-1", 0, event(1))))
    writer.start()
    writer.join(timeout=0.3)
    assert writer.is_alive()
    assert store.read("a-1") == []
    gate.release()
    writer.join(timeout=30)
    assert [e.version for e in store.read("a-1")] == [1]


def test_appends_queued_behind_the_gate_commit_together_each_on_its_own(
    tmp_path: Path,
) -> None:
    gate = threading.RLock()
    store = SqliteEventStore(tmp_path / "events.db", write_gate=gate)
    store.append(write("taken-1", 0, event(1)))
    outcomes: dict[str, object] = {}

    def append(stream: str) -> None:
        try:
            outcomes[stream] = store.append(write(stream, 0, event(1)), command_id=stream)
        except ConcurrencyConflict as exc:
            outcomes[stream] = exc

    gate.acquire()
    writers = [threading.Thread(target=append, args=(s,)) for s in ("a-1", "taken-1", "b-1", "c-1")]
    for writer in writers:
        writer.start()
    while len(store._queue) < len(writers):  # every append waits in the group
        threading.Event().wait(0.01)
    gate.release()
    for writer in writers:
        writer.join(timeout=30)
    assert isinstance(outcomes["taken-1"], ConcurrencyConflict)
    recorded = [e.stream_id for e in store.read_all()]
    assert recorded[0] == "taken-1"
    assert sorted(recorded[1:]) == ["a-1", "b-1", "c-1"]
    assert store.find_commit("taken-1") is None
    assert all(store.find_commit(s) is not None for s in ("a-1", "b-1", "c-1"))


@pytest.mark.parametrize("holder_ends", ["releases", "is killed"])
def test_writers_in_other_processes_queue_on_the_file_gate(
    tmp_path: Path, holder_ends: str
) -> None:
    database = tmp_path / "events.db"
    store = SqliteEventStore(database)
    holder = gate_holder(database)
    writer = threading.Thread(target=lambda: store.append(write("a-1", 0, event(1))))
    writer.start()
    writer.join(timeout=0.3)
    assert writer.is_alive()  # waits in the kernel for the other process's flock
    assert store.read("a-1") == []
    if holder_ends == "releases":
        holder.communicate("go\n", timeout=30)
    else:  # the kernel drops a dead process's flock: kill -9 never leaves the file locked
        holder.kill()
        holder.wait(30)
    writer.join(timeout=30)
    assert [e.version for e in store.read("a-1")] == [1]
    store.close()


def test_one_gate_per_file_and_process(tmp_path: Path) -> None:
    first = FileWriteGate.for_file(tmp_path / "a.db")
    assert FileWriteGate.for_file(tmp_path / "." / "a.db") is first
    assert FileWriteGate.for_file(tmp_path / "b.db") is not first
    store = SqliteEventStore(tmp_path / "a.db")
    try:
        assert store.write_gate is first
        with first, first:  # re-entrant: a thread nesting two writers of a file writes
            store.append(write("a-1", 0, event(1)))
    finally:
        store.close()


class _Gate:
    """A write gate that says whether it is held (the store's writers queue on it)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.held = False

    def __enter__(self) -> _Gate:
        self._lock.acquire()
        self.held = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.held = False
        self._lock.release()


@needs_proc_fds
def test_a_full_durability_append_syncs_the_wal_outside_the_write_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate()
    store = SqliteEventStore(tmp_path / "events.db", write_gate=gate)
    # The commit itself does not fsync (NORMAL = 1); append does, once the gate is free.
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == 1
    syncs = wal_syncs(monkeypatch, lambda: gate.held)
    store.append(write("a-1", 0, event(1)))
    assert syncs == [False]
    store.append(write("a-1", 1, event(2)), command_id="c-1")
    store.append(write("a-1", 1, event(2)), command_id="c-1")  # a duplicate: synced too
    assert syncs == [False, False, False]
    with pytest.raises(ConcurrencyConflict):
        store.append(write("a-1", 0, event(1)))
    assert len(syncs) == 3  # nothing was committed
    store.close()


@needs_proc_fds
@pytest.mark.parametrize("durability", ["normal", "off"])
def test_lesser_durability_never_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: Durability
) -> None:
    store = SqliteEventStore(tmp_path / "events.db", durability=durability)
    syncs = wal_syncs(monkeypatch)
    store.append(write("a-1", 0, event(1)))
    assert syncs == []
    store.close()


@needs_proc_fds
def test_appends_in_a_deferred_sync_block_leave_their_fsync_to_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteEventStore(tmp_path / "events.db")
    syncs = wal_syncs(monkeypatch)
    with store.deferred_sync() as outer:
        store.read("a-1")
        assert not outer.needed  # a read owes no fsync
        with store.deferred_sync() as inner:
            store.append(write("a-1", 0, event(1)))
        assert inner.needed
        assert outer.needed  # the inner block's debt is the outer's too
        store.append(write("a-1", 1, event(2)))
    assert syncs == []
    other = threading.Thread(target=lambda: store.append(write("b-1", 0, event(1))))
    with store.deferred_sync():
        other.start()  # another thread's append is not deferred
        other.join()
    assert syncs == [False]
    store.append(write("a-1", 2, event(3)))  # after the block: synced again
    assert syncs == [False, False]
    store.close()


def test_a_deferred_sync_is_needed_only_with_full_durability(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db", durability="normal")
    with store.deferred_sync() as deferred:
        store.append(write("a-1", 0, event(1)))
    assert not deferred.needed
    store.close()


# -- shared transactions (deferred_sync(shared=True)) -----------------------------------------


@needs_proc_fds
def test_shared_appends_commit_together_when_made_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.db"
    store = SqliteEventStore(path)
    heard: list[int] = []
    store.add_commit_listener(lambda: heard.append(len(committed(path))))
    syncs = wal_syncs(monkeypatch)
    with store.deferred_sync(shared=True) as first:
        store.append(write("a-1", 0, event(1)))
    with store.deferred_sync(shared=True) as second:
        store.append(write("b-1", 0, event(1)))
        with pytest.raises(ConcurrencyConflict):  # undoes only itself
            store.append(write("a-1", 0, event(9)))
        store.append(write("a-1", 1, event(2)))  # sees the first block's append
    assert first.needed
    assert second.needed
    assert committed(path) == []  # nothing is committed before make_durable ...
    assert heard == []
    assert syncs == []
    store.make_durable()
    assert committed(path) == [("a-1", 1), ("b-1", 1), ("a-1", 2)]  # ... then all of it
    assert heard == [3]  # once, after the commit
    assert syncs == [False]
    store.make_durable()  # nothing open: only the fsync
    assert syncs == [False, False]
    store.close()


def test_another_thread_waits_for_the_shared_transaction(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = SqliteEventStore(path)
    with store.deferred_sync(shared=True):
        store.append(write("a-1", 0, event(1)))
    writer = threading.Thread(target=lambda: store.append(write("b-1", 0, event(1))))
    writer.start()
    writer.join(timeout=0.3)
    assert writer.is_alive()  # the gate is kept until make_durable
    store.make_durable()
    writer.join(timeout=30)
    assert committed(path) == [("a-1", 1), ("b-1", 1)]
    store.close()


def test_shared_appends_whose_commit_failed_under_another_writer_fail_their_sync(
    tmp_path: Path,
) -> None:
    """Another writer of the thread ends the shared transaction and its COMMIT fails: that
    writer hears it, and so does the appends' make_durable (they must not be answered as
    committed)."""
    path = tmp_path / "events.db"
    store = SqliteEventStore(path)
    same_file = SqliteEventStore(path)
    own = store._conn()  # the thread's connection, which holds the shared transaction
    own.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id)"
        " DEFERRABLE INITIALLY DEFERRED);"
    )
    with store.deferred_sync(shared=True):
        store.append(write("a-1", 0, event(1)))
        own.execute("INSERT INTO child VALUES (42)")  # a violation checked only at COMMIT
    with pytest.raises(StoreError):
        same_file.append(write("b-1", 0, event(1)))
    with pytest.raises(StoreError):
        store.make_durable()
    assert committed(path) == []
    store.make_durable()  # told once
    same_file.close()
    store.close()


def test_a_writer_of_the_same_thread_ends_the_shared_transaction_first(tmp_path: Path) -> None:
    """Another writer of the file on the holding thread (the same store outside a shared
    block, or another store of the file) commits the shared appends first instead of
    finding the file locked by its own thread."""
    path = tmp_path / "events.db"
    store = SqliteEventStore(path)
    same_file = SqliteEventStore(path)
    with store.deferred_sync(shared=True):
        store.append(write("a-1", 0, event(1)))
    store.append(write("b-1", 0, event(1)))
    assert committed(path) == [("a-1", 1), ("b-1", 1)]
    with store.deferred_sync(shared=True):
        store.append(write("a-1", 1, event(2)))
    same_file.append(write("c-1", 0, event(1)))
    assert committed(path) == [("a-1", 1), ("b-1", 1), ("a-1", 2), ("c-1", 1)]
    store.make_durable()  # nothing left open
    same_file.close()
    store.close()
