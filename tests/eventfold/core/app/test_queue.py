"""Same-stream commands take turns in one handler: StreamTurns itself, and the handler on a
real SQLite store (no conflict retried among its own commands, a bounded wait for a turn,
nothing left in the table)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from eventfold import CommandHandler, RuleViolated, Session, SqliteEventStore
from eventfold.core.app.queue import StreamTurns
from tests.eventfold.domain.counter import Add, codec, counter
from tests.sqlite_support import sqlite_store

THREADS = 16
EACH = 6  # 96 commands of Add(1): the counter stops at 100


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    yield from sqlite_store(tmp_path, "normal")


def test_one_holder_per_stream_and_the_table_empties() -> None:
    turns = StreamTurns()
    assert turns.acquire("a", 1)
    assert turns.acquire("b", 1)  # another stream: its own turn
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(turns.acquire("a", 5)))
    waiter.start()
    waiter.join(0.05)
    assert got == []  # still waiting
    turns.release("a")
    waiter.join(5)
    assert got == [True]
    assert len(turns) == 2
    turns.release("a")
    turns.release("b")
    assert len(turns) == 0


def test_a_turn_not_given_in_time_is_refused_and_leaves_no_entry() -> None:
    turns = StreamTurns()
    assert turns.acquire("a", 1)
    other = ThreadPoolExecutor(1)
    assert other.submit(turns.acquire, "a", 0.01).result() is False
    assert other.submit(turns.acquire, "b", 0).result() is True  # free: given at once
    other.submit(turns.release, "b").result()
    turns.release("a")
    assert len(turns) == 0
    other.shutdown()


def test_the_holding_thread_is_not_made_to_wait_for_its_own_turn() -> None:
    turns = StreamTurns()
    assert turns.acquire("a", 1)
    assert turns.acquire("a", 30) is False  # at once, not after 30 s
    turns.release("a")
    assert len(turns) == 0


def test_commands_on_one_stream_queue_instead_of_conflicting(store: SqliteEventStore) -> None:
    # A single conflict would raise; a turn bound no loaded CI machine reaches.
    handler = CommandHandler(store, codec, attempts=1, turn_timeout=120)
    start = threading.Barrier(THREADS)

    def client(_: int) -> list[int]:
        start.wait()
        return [
            handler.execute(counter, "counter-1", Add(1)).commit.versions["counter-1"]
            for _ in range(EACH)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        versions = [v for got in pool.map(client, range(THREADS)) for v in got]
    total = THREADS * EACH
    assert sorted(versions) == list(range(1, total + 1))
    assert [e.version for e in store.read("counter-1")] == list(range(1, total + 1))
    assert (handler.stats.conflicts_retried, handler.stats.turns_missed) == (0, 0)
    assert handler.turns is not None
    assert len(handler.turns) == 0


def test_without_turns_the_same_load_conflicts_and_retries(store: SqliteEventStore) -> None:
    """Without turns the same load still ends correct: the store's version check decides
    (how many conflicts the turns save is measured by the hot-stream bench, not here)."""
    handler = CommandHandler(store, codec, attempts=THREADS * EACH, take_turns=False)
    start = threading.Barrier(THREADS)

    def client(_: int) -> None:
        start.wait()
        for _ in range(EACH):
            handler.execute(counter, "counter-1", Add(1))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(client, range(THREADS)))
    assert [e.version for e in store.read("counter-1")] == list(range(1, THREADS * EACH + 1))
    assert handler.turns is None


def test_sessions_opening_streams_in_opposite_orders_do_not_deadlock(
    store: SqliteEventStore,
) -> None:
    """A takes a then wants b, B takes b then wants a: one of them waits out turn_timeout,
    goes on without its turn, and optimistic concurrency sorts out the rest."""
    handler = CommandHandler(store, codec, turn_timeout=0.2)
    both_hold_one = threading.Barrier(2)

    def crosswise(first: str, second: str) -> None:
        attempted: list[int] = []

        def work(session: Session) -> None:
            session.execute(counter, first, Add(1))
            if not attempted:  # the first attempt: each holds its first stream's turn
                attempted.append(1)
                both_hold_one.wait(10)
            session.execute(counter, second, Add(1))

        handler.run(work)

    with ThreadPoolExecutor(2) as pool:
        done = [
            pool.submit(crosswise, "counter-a", "counter-b"),
            pool.submit(crosswise, "counter-b", "counter-a"),
        ]
        for future in done:
            future.result(timeout=30)
    for stream_id in ("counter-a", "counter-b"):
        assert [e.version for e in store.read(stream_id)] == [1, 2]
    assert handler.stats.turns_missed >= 1
    assert handler.turns is not None
    assert len(handler.turns) == 0


def test_a_failed_attempt_gives_its_turns_back(store: SqliteEventStore) -> None:
    handler = CommandHandler(store, codec)

    def refused(session: Session) -> None:
        session.execute(counter, "counter-1", Add(1000))  # over the counter's limit

    with pytest.raises(RuleViolated, match="limit"):
        handler.run(refused)
    assert handler.turns is not None
    assert len(handler.turns) == 0
    assert handler.execute(counter, "counter-1", Add(1)).commit.versions == {"counter-1": 1}
