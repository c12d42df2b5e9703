from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventfold import (
    Actor,
    CommandHandler,
    ConcurrencyConflict,
    Decider,
    IdempotencyKeyReused,
    Origin,
    RuleViolated,
    Session,
    SqliteEventStore,
    StreamNotFound,
)
from eventfold.core.app.handler import fingerprint
from tests.eventfold.domain.counter import Add, Added, Counter, Reset, WasReset, codec, counter
from tests.sqlite_support import sqlite_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    """The store's default durability ("full"), not tests/eventfold's "off" store."""
    yield from sqlite_store(tmp_path, "full")


@pytest.fixture
def handler(store: SqliteEventStore) -> CommandHandler:
    return CommandHandler(store, codec)


def replayed_counter(store: SqliteEventStore) -> Counter:
    """counter-1 folded from its stored events (what its snapshot must equal)."""
    events = [cast("Added | WasReset", codec.decode(e)) for e in store.read("counter-1")]
    return counter.fold_events(events)


def test_execute_decides_and_commits(handler: CommandHandler, store: SqliteEventStore) -> None:
    origin = Origin(Actor.of("clerk-7", ["staff"]), command_id="c1", idempotency_key="k1")
    outcome = handler.execute(counter, "counter-1", Add(2), origin)
    assert outcome.result == [Added(2)]
    assert outcome.commit.versions == {"counter-1": 1}
    (recorded,) = store.read("counter-1")
    assert recorded.metadata["command_id"] == "c1"
    assert recorded.metadata["correlation_id"] == "c1"
    assert recorded.metadata["content_type"] == "application/json"
    assert recorded.metadata["actor"] == "clerk-7"
    assert recorded.metadata["actor_roles"] == "staff"
    assert recorded.metadata["idempotency_key"] == "k1"
    snapshot = store.load("counter-1")
    assert snapshot is not None
    assert snapshot.state == b'{"total":2,"limit":100}'


def test_a_refused_command_commits_nothing(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    handler.execute(counter, "counter-1", Add(99))
    with pytest.raises(RuleViolated, match="limit"):
        handler.execute(counter, "counter-1", Add(2))
    assert [e.version for e in store.read("counter-1")] == [1]


def test_a_repeated_command_id_does_not_decide_again(handler: CommandHandler) -> None:
    calls: list[int] = []

    def work(session: Session) -> None:
        calls.append(1)
        session.execute(counter, "counter-1", Add(1))

    first = handler.run(work, Origin(command_id="c1", request_digest="f"))
    again = handler.run(work, Origin(command_id="c1", request_digest="f"))
    assert calls == [1]
    assert again.commit.duplicate
    assert again.commit.versions == first.commit.versions
    assert again.result is None


def test_run_refuses_a_command_id_repeated_with_another_request(handler: CommandHandler) -> None:
    def work(session: Session) -> None:
        session.execute(counter, "counter-1", Add(1))

    def asking(n: int) -> Origin:
        return Origin(command_id="c1", request_digest=fingerprint("add", n), idempotency_key="k")

    handler.run(work, asking(1))
    assert handler.run(work, asking(1)).commit.duplicate
    with pytest.raises(IdempotencyKeyReused, match="'k'"):  # names the client's key
        handler.run(work, asking(2))


def test_a_recorded_digest_stays_the_same_across_releases(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    def work(session: Session) -> None:
        session.execute(counter, "counter-1", Add(1))

    handler.run(work, Origin(command_id="c1", request_digest=fingerprint("add", "counter-1", 1)))
    commit = store.find_commit("c1")
    assert commit is not None
    # sha256 of the compact JSON ["add","counter-1",1], 32 hex digits: keys recorded by an
    # earlier release still compare equal.
    assert commit.fingerprint == "fc3f2b4d4332b5fbed2d351f4c7768dd"


def test_execute_with_a_known_command_id_returns_the_first_commit(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    first = handler.execute(counter, "counter-1", Add(1), Origin(command_id="c1"))
    again = handler.execute(counter, "counter-1", Add(5), Origin(command_id="c1"))
    assert again.commit.duplicate
    assert again.commit.versions == first.commit.versions
    assert len(store.read("counter-1")) == 1


def test_must_exist_refuses_a_new_stream(handler: CommandHandler) -> None:
    with pytest.raises(StreamNotFound, match="counter-9"):
        handler.execute(counter, "counter-9", Add(1), must_exist=True)


def test_a_pinned_stale_version_conflicts_without_retry(handler: CommandHandler) -> None:
    handler.execute(counter, "counter-1", Add(1))
    handler.execute(counter, "counter-1", Add(1))
    with pytest.raises(ConcurrencyConflict) as caught:
        handler.execute(counter, "counter-1", Add(1), expected_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert handler.execute(counter, "counter-1", Add(1), expected_version=2).commit.versions == {
        "counter-1": 3
    }


def test_a_conflict_reloads_and_decides_again(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rival = CommandHandler(store, codec)
    attempts: list[int] = []

    def work(session: Session) -> None:
        state, _ = session.state(counter, "counter-1")
        attempts.append(state.total)
        if len(attempts) == 1:  # another writer commits between our read and our append
            rival.execute(counter, "counter-1", Add(10))
        session.execute(counter, "counter-1", Add(1))

    outcome = handler.run(work)
    assert attempts == [0, 10]
    assert outcome.commit.versions == {"counter-1": 2}


def test_retries_are_bounded(store: SqliteEventStore) -> None:
    handler = CommandHandler(store, codec, attempts=3)
    rival = CommandHandler(store, codec)
    attempts: list[int] = []

    def work(session: Session) -> None:
        session.state(counter, "counter-1")
        attempts.append(1)
        rival.execute(counter, "counter-1", Add(1))
        session.execute(counter, "counter-1", Add(1))

    with pytest.raises(ConcurrencyConflict):
        handler.run(work)
    assert len(attempts) == 3


def test_a_session_commits_several_streams_atomically(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    handler.execute(counter, "counter-b", Add(100))

    def transfer(session: Session) -> None:
        session.execute(counter, "counter-a", Add(5))
        session.execute(counter, "counter-b", Add(5))  # refused: b is full

    with pytest.raises(RuleViolated):
        handler.run(transfer)
    assert store.read("counter-a") == []


def test_a_session_sees_its_own_decisions(handler: CommandHandler) -> None:
    def twice(session: Session) -> int:
        session.execute(counter, "counter-1", Add(1))
        session.execute(counter, "counter-1", Add(2))
        state, version = session.state(counter, "counter-1")
        assert version == 2
        return state.total

    outcome = handler.run(twice)
    assert outcome.result == 3
    assert outcome.commit.versions == {"counter-1": 2}


def test_a_command_deciding_nothing_writes_nothing(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    outcome = handler.run(
        lambda session: session.state(counter, "counter-1"), Origin(command_id="c")
    )
    assert outcome.commit.versions == {"counter-1": 0}
    assert store.find_commit("c") is None


def test_a_snapshot_of_another_fold_is_replaced_by_a_replay(store: SqliteEventStore) -> None:
    CommandHandler(store, codec).execute(counter, "counter-1", Add(3))

    def evolve_doubled(state: Counter, event: Added | WasReset) -> Counter:
        if isinstance(event, WasReset):
            return Counter(0, state.limit)
        return Counter(state.total + 2 * event.amount, state.limit)

    doubled = Decider("counter", Counter(), evolve_doubled, counter.decide, fold="2")
    outcome = CommandHandler(store, codec).run(lambda s: s.state(doubled, "counter-1")[0])
    assert outcome.result == Counter(6)


def test_concurrent_commands_all_land_without_gaps(store: SqliteEventStore) -> None:
    handler = CommandHandler(store, codec, attempts=50)
    threads = [
        threading.Thread(target=lambda: handler.execute(counter, "counter-1", Add(1)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.version for e in store.read("counter-1")] == list(range(1, 9))
    snapshot = store.load("counter-1")
    assert snapshot is not None
    assert snapshot.version == 8


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=-1, max_value=40), max_size=12))
def test_the_snapshot_always_equals_a_replay(amounts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteEventStore(Path(folder) / "events.db")
        handler = CommandHandler(store, codec)
        for amount in amounts:
            with contextlib.suppress(RuleViolated):
                handler.execute(counter, "counter-1", Add(amount))
        replayed = replayed_counter(store)
        snapshot = store.load("counter-1")
        total = replayed.total
        assert total <= 100
        if snapshot is not None:
            assert snapshot.state == f'{{"total":{total},"limit":100}}'.encode()
        store.close()


def test_a_refusal_on_a_cached_state_is_checked_on_the_stored_state(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    handler.execute(counter, "counter-1", Add(99))  # cached: total 99
    CommandHandler(store, codec).execute(counter, "counter-1", Reset())  # behind its back
    outcome = handler.execute(counter, "counter-1", Add(5))
    assert outcome.commit.versions == {"counter-1": 3}
    assert replayed_counter(store) == Counter(5)


def test_a_no_op_on_a_cached_state_is_checked_on_the_stored_state(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    handler.execute(counter, "counter-1", Add(3))
    handler.execute(counter, "counter-1", Reset())  # cached: total 0
    CommandHandler(store, codec).execute(counter, "counter-1", Add(7))  # behind its back
    outcome = handler.execute(counter, "counter-1", Reset())
    assert outcome.commit.versions == {"counter-1": 4}


def test_a_stale_cache_costs_a_conflict_not_a_wrong_write(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    handler.execute(counter, "counter-1", Add(1))
    CommandHandler(store, codec).execute(counter, "counter-1", Add(1))
    handler.execute(counter, "counter-1", Add(1))
    assert [e.version for e in store.read("counter-1")] == [1, 2, 3]
    snapshot = store.load("counter-1")
    assert snapshot is not None
    assert snapshot.state == b'{"total":3,"limit":100}'


def test_a_stream_another_writer_moves_is_loaded_not_guessed(store: SqliteEventStore) -> None:
    # Two HTTP processes taking commands for the same stock: each one's cached state is
    # stale whenever the other wrote. After its first conflict, each loads the stream.
    first, second = CommandHandler(store, codec), CommandHandler(store, codec)
    for _ in range(6):
        first.execute(counter, "counter-1", Add(1))
        second.execute(counter, "counter-1", Add(1))
    assert (first.stats.conflicts_retried, second.stats.conflicts_retried) == (1, 1)
    assert replayed_counter(store) == Counter(12)


def new_counter(session: Session) -> None:
    session.execute(counter, "counter-1", Add(1), new=True)


def test_a_stream_said_to_be_new_is_decided_without_a_read(
    store: SqliteEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unread(stream_id: str) -> None:
        raise AssertionError(f"{stream_id} was read")

    monkeypatch.setattr(store, "load", unread)
    handler = CommandHandler(store, codec)
    outcome = handler.run(new_counter)
    assert (outcome.commit.versions, handler.stats.conflicts_retried) == ({"counter-1": 1}, 0)
    assert replayed_counter(store) == Counter(1)


def test_a_stream_said_to_be_new_that_exists_is_decided_again_on_what_is_stored(
    store: SqliteEventStore,
) -> None:
    CommandHandler(store, codec).execute(counter, "counter-1", Add(5))
    handler = CommandHandler(store, codec)
    outcome = handler.run(new_counter)
    # The guess (version 0) conflicted once; the retry read the stream instead of guessing.
    assert (outcome.commit.versions, handler.stats.conflicts_retried) == ({"counter-1": 2}, 1)
    assert replayed_counter(store) == Counter(6)


def test_a_command_id_taken_meanwhile_leaves_no_unwritten_state_in_the_cache(
    handler: CommandHandler, store: SqliteEventStore
) -> None:
    rival = CommandHandler(store, codec)

    def work(session: Session) -> None:
        session.execute(counter, "counter-1", Add(1))
        # the same command id commits other content between our read and our append
        rival.execute(counter, "counter-1", Add(5), Origin(command_id="c1"))

    outcome = handler.run(
        work, Origin(command_id="c1")
    )  # no request to compare: the earlier commit stands
    assert outcome.commit.duplicate
    handler.execute(counter, "counter-1", Add(1))
    replayed = replayed_counter(store)
    assert replayed == Counter(6)
    snapshot = store.load("counter-1")
    assert snapshot is not None
    assert snapshot.state == b'{"total":6,"limit":100}'


def test_each_command_outcome_is_counted(store: SqliteEventStore) -> None:
    outcomes: list[str] = []
    handler = CommandHandler(store, codec, outcomes=outcomes.append)
    handler.execute(counter, "counter-1", Add(99), Origin(command_id="c-1"))
    handler.execute(counter, "counter-1", Add(99), Origin(command_id="c-1"))
    with pytest.raises(RuleViolated):
        handler.execute(counter, "counter-1", Add(2))
    with pytest.raises(ConcurrencyConflict):
        handler.execute(counter, "counter-1", Add(1), expected_version=0)

    def broken(_: Session) -> None:
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        handler.run(broken)
    assert outcomes == ["committed", "duplicate", "refused", "conflict", "failed"]
