"""Commands on the embedded store answer once their commit is on disk, sharing fsyncs:
GroupSync (a scripted sync, and the real WAL sync helper as its background) and
InlineCommands (a real SQLite store, its WAL fsyncs recorded)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.plumbing import FileWriteGate
from eventfold.adapters.sqlite.wal_helper import WalSyncHelper
from eventfold.entry.http.runners import GroupSync, InlineCommands, store_runner
from tests.contracts.event_store import event, write
from tests.sqlite_support import (
    committed,
    gate_holder,
    needs_proc_fds,
    sqlite_store,
    wal_syncs,
)


class CountingSync:
    """A sync that records, at each run, how many callers had asked by then."""

    def __init__(self, asked: list[int]) -> None:
        self.asked = asked
        self.seen: list[int] = []
        self.fail_next = False

    def __call__(self) -> None:
        self.seen.append(len(self.asked))
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk gone")


def test_callers_in_one_turn_of_the_loop_share_one_sync_run_after_all_asked() -> None:
    async def scenario() -> None:
        asked: list[int] = []
        sync = CountingSync(asked)
        group = GroupSync(sync)

        async def command(number: int) -> None:
            asked.append(number)  # its commit, done before it asks
            await group()

        await asyncio.gather(*(command(n) for n in range(5)))
        assert sync.seen == [5]  # one run, after every caller of the turn committed
        await command(5)  # a later turn: a run of its own
        assert sync.seen == [5, 6]
        assert group.runs == 2

    asyncio.run(scenario())


def test_a_failed_sync_fails_its_group_only() -> None:
    async def scenario() -> None:
        sync = CountingSync([])
        sync.fail_next = True
        group = GroupSync(sync)
        failed = await asyncio.gather(group(), group(), return_exceptions=True)
        assert [type(e) for e in failed] == [OSError, OSError]
        await group()  # the next group syncs as usual
        assert len(sync.seen) == 2

    asyncio.run(scenario())


def test_a_cancelled_caller_does_not_cancel_the_others_sync() -> None:
    async def scenario() -> None:
        sync = CountingSync([])
        group = GroupSync(sync)
        a, b = asyncio.create_task(group()), asyncio.create_task(group())
        await asyncio.sleep(0)  # both are waiting for the run
        a.cancel()
        await b
        assert a.cancelled()
        assert len(sync.seen) == 1

    asyncio.run(scenario())


class Helpers:
    """Makes the real WAL sync helper for a GroupSync's background, and keeps each made."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.made: list[WalSyncHelper] = []

    def __call__(self) -> WalSyncHelper:
        helper = WalSyncHelper(self.database)
        self.made.append(helper)
        return helper


@pytest.fixture
def helpers(tmp_path: Path) -> Iterator[Helpers]:
    made = Helpers(tmp_path / "eventfold.db")
    Path(f"{made.database}-wal").write_bytes(b"frames")
    yield made
    for helper in made.made:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper.pid, signal.SIGCONT)
        helper.close()


def test_with_a_background_the_loop_commits_and_its_callers_wait_for_the_answer(
    helpers: Helpers,
) -> None:
    commits: list[int] = []
    synced_here: list[int] = []
    group = GroupSync(
        lambda: synced_here.append(1), commit=lambda: commits.append(1), background=helpers
    )

    async def scenario() -> None:
        await asyncio.gather(group(), group())  # one turn: one commit, one request
        assert (commits, synced_here, len(helpers.made)) == ([1], [], 1)
        os.kill(helpers.made[0].pid, signal.SIGSTOP)  # the helper cannot answer
        waiting = asyncio.create_task(group())
        await asyncio.sleep(0.3)  # the loop is free meanwhile
        assert commits == [1, 1]  # committed on the loop ...
        assert not waiting.done()  # ... but not answered before the helper synced
        os.kill(helpers.made[0].pid, signal.SIGCONT)
        await asyncio.wait_for(waiting, 10)
        group.close()

    asyncio.run(scenario())
    assert synced_here == []
    assert group.runs == 2


def test_callers_waiting_for_a_background_that_dies_are_synced_on_the_loop(
    helpers: Helpers,
) -> None:
    synced_here: list[int] = []
    group = GroupSync(lambda: synced_here.append(1), commit=lambda: None, background=helpers)

    async def scenario() -> None:
        await group()
        os.kill(helpers.made[0].pid, signal.SIGSTOP)
        waiting = [asyncio.create_task(group()) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert not any(w.done() for w in waiting)
        os.kill(helpers.made[0].pid, signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert synced_here == [1]  # one sync on the loop for the run it had not answered
        await group()  # soon after: on the loop, no new helper yet
        assert (synced_here, len(helpers.made)) == ([1, 1], 1)

    asyncio.run(scenario())


def test_a_group_sync_used_on_another_loop_makes_its_background_anew(helpers: Helpers) -> None:
    group = GroupSync(lambda: None, commit=lambda: None, background=helpers)
    for _ in range(2):  # each asyncio.run is a loop of its own, as each test client's is
        asyncio.run(asyncio.wait_for(group(), 10))
    assert len(helpers.made) == 2
    group.close()


def test_a_background_sync_without_a_commit_on_the_loop_is_refused(helpers: Helpers) -> None:
    with pytest.raises(ValueError, match="commit"):
        GroupSync(lambda: None, background=helpers)
    assert helpers.made == []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    yield from sqlite_store(tmp_path, "full")


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The WAL fsyncs from now on (see :func:`wal_syncs`)."""
    return wal_syncs(monkeypatch)


def test_the_embedded_store_gets_the_durable_inline_runner(store: SqliteEventStore) -> None:
    assert isinstance(store_runner(store), InlineCommands)


@needs_proc_fds
def test_a_call_that_appended_returns_after_an_fsync_begun_after_its_commit(
    store: SqliteEventStore, syncs: list[bool]
) -> None:
    run = InlineCommands(store, sync_helper=False)
    loop_thread: list[int] = []

    def append_on_the_loop(version: int) -> int:
        loop_thread.append(threading.get_ident())
        store.append(write("a-1", version, event(version + 1)))
        assert syncs == []  # the commit itself did not fsync, the runner does after it
        return version + 1

    async def scenario() -> None:
        assert await run(append_on_the_loop, 0) == 1
        assert syncs == [False]
        assert await run(store.read, "a-1") != []
        assert syncs == [False]  # reads owe nothing
        assert loop_thread == [threading.get_ident()]  # inline: no worker thread

    asyncio.run(scenario())
    store.append(write("a-1", 1, event(2)))  # outside the runner: synced by append itself
    assert syncs == [False, False]


@needs_proc_fds
def test_a_call_that_failed_after_it_appended_is_still_made_durable(
    store: SqliteEventStore, syncs: list[bool]
) -> None:
    def append_then_fail() -> None:
        store.append(write("a-1", 0, event(1)))
        raise RuntimeError("after the commit")

    with pytest.raises(RuntimeError, match="after the commit"):
        asyncio.run(InlineCommands(store, sync_helper=False)(append_then_fail))
    assert syncs == [False]


@needs_proc_fds
def test_with_the_helper_the_loop_commits_and_never_fsyncs_itself(
    store: SqliteEventStore, syncs: list[bool]
) -> None:
    run = InlineCommands(store)  # the default: a helper process syncs

    def append(stream: str) -> int:
        store.append(write(stream, 0, event(1)))
        return 1

    def append_then_fail() -> None:
        append("c-1")
        raise RuntimeError("after the commit")

    async def scenario() -> None:
        assert list(await asyncio.gather(run(append, "a-1"), run(append, "b-1"))) == [1, 1]
        assert committed(store.path) == [("a-1", 1), ("b-1", 1)]
        with pytest.raises(RuntimeError, match="after the commit"):
            await run(append_then_fail)
        assert committed(store.path)[-1] == ("c-1", 1)

    asyncio.run(scenario())
    assert syncs == []  # every fsync was the helper's


def test_the_calls_of_one_turn_of_the_loop_commit_in_one_transaction(
    store: SqliteEventStore,
) -> None:
    run = InlineCommands(store)
    seen_while_running: list[list[tuple[str, int]]] = []

    def append(stream: str) -> None:
        store.append(write(stream, 0, event(1)))
        seen_while_running.append(committed(store.path))

    async def scenario() -> None:
        await asyncio.gather(run(append, "a-1"), run(append, "b-1"), run(append, "c-1"))

    asyncio.run(scenario())
    assert seen_while_running == [[], [], []]  # none committed before the turn's end ...
    assert committed(store.path) == [("a-1", 1), ("b-1", 1), ("c-1", 1)]  # ... all after


def released_by_test_or_timer(holder: subprocess.Popen[str]) -> Callable[[], None]:
    """What lets ``holder`` (see :func:`gate_holder`) go, once: the test calls it, and so
    does a timer after 15 s, so that a loop blocked on the gate fails the test, never hangs
    (long enough that a stalled CI machine does not release the gate early)."""
    released = threading.Lock()

    def release() -> None:
        if released.acquire(blocking=False):
            holder.communicate("go\n", timeout=30)

    timer = threading.Timer(15.0, release)
    timer.daemon = True
    timer.start()
    return release


def test_while_another_process_holds_the_gate_the_loop_goes_on_and_waiters_commit_together(
    store: SqliteEventStore,
) -> None:
    run = InlineCommands(store)
    commits: list[int] = []
    store.add_commit_listener(lambda: commits.append(len(committed(store.path))))
    release = released_by_test_or_timer(gate_holder(store.path))

    def append(stream: str) -> None:
        store.append(write(stream, 0, event(1)))

    async def scenario() -> int:
        ticks = 0
        commands = [asyncio.create_task(run(append, s)) for s in ("a-1", "b-1", "c-1")]
        deadline = asyncio.get_running_loop().time() + 0.3
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
            ticks += 1  # the loop is free while the commands wait for the gate
        assert not any(c.done() for c in commands)
        await asyncio.to_thread(release)
        await asyncio.wait_for(asyncio.gather(*commands), 30)
        return ticks

    try:
        ticks = asyncio.run(scenario())
    finally:
        release()
    assert ticks >= 3  # about 30 when nothing else runs; a loop blocked by the gate ticks once
    assert committed(store.path) == [("a-1", 1), ("b-1", 1), ("c-1", 1)]
    assert commits == [3]  # one transaction for the three that waited


def test_commands_cancelled_while_waiting_for_the_gate_leave_it_free(
    store: SqliteEventStore,
) -> None:
    run = InlineCommands(store)
    gate = store.write_gate
    assert isinstance(gate, FileWriteGate)
    release = released_by_test_or_timer(gate_holder(store.path))

    def append() -> None:
        store.append(write("a-1", 0, event(1)))

    def take_and_leave() -> None:
        with gate:
            pass

    async def scenario() -> None:
        waiting = asyncio.create_task(run(append))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.to_thread(release)
        # The helper thread gets the gate for nobody: it is left, and another thread takes it.
        await asyncio.wait_for(asyncio.to_thread(take_and_leave), 30)

    try:
        asyncio.run(scenario())
    finally:
        release()
    assert committed(store.path) == []
    assert not gate.held_here()
