"""Where an ``async`` route runs its blocking calls on a store or a query model.

:class:`QueryRunner`: on the event loop itself when the database is a local SQLite file (a
WAL read takes well under a millisecond and never waits for a writer, so the hop to a
worker thread and back costs more than it saves; measured under wrk: 1.2-1.7x the
requests/s of the same route hopping), in a worker thread (``anyio.to_thread``) when it is
a network database (MySQL, DynamoDB), whose round trip must not stall the loop.

:class:`InlineCommands` (what :func:`store_runner` gives for the embedded event store) runs
commands inline too, and answers them only once their commits are on disk, one fsync for
all the commands of one turn of the loop (:class:`GroupSync`), run by a helper process
while the loop goes on.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import threading
from collections.abc import Callable, Collection
from typing import ParamSpec, Protocol, TypeVar

import structlog
from anyio import to_thread
from sqlalchemy import Engine

from eventfold.adapters.sqlite.event_store import SqliteEventStore
from eventfold.adapters.sqlite.plumbing import FileWriteGate
from eventfold.adapters.sqlite.wal_helper import WalSyncHelper
from eventfold.core.ports import EventStore

P = ParamSpec("P")
T = TypeVar("T")

log = structlog.stdlib.get_logger("eventfold.http")

RESTART_AFTER = 5.0
"""Seconds a :class:`GroupSync` syncs on its loop after its background failed."""


class QueryRunner:
    """Runs a blocking query for an ``async`` route: inline on the event loop (``inline``:
    a local SQLite file) or in a worker thread (a network database)."""

    def __init__(self, *, inline: bool) -> None:
        self.inline = inline

    async def __call__(self, query: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.inline:
            return query(*args, **kwargs)
        return await to_thread.run_sync(functools.partial(query, *args, **kwargs))


def query_runner(engine: Engine) -> QueryRunner:
    """The runner for queries on ``engine``: inline for SQLite, a worker thread otherwise."""
    return QueryRunner(inline=engine.dialect.name == "sqlite")


class BackgroundSync(Protocol):
    """Syncs elsewhere (another process) what this one committed; answers on a descriptor
    the loop watches (:class:`~eventfold.adapters.sqlite.wal_helper.WalSyncHelper`)."""

    def fileno(self) -> int: ...

    def request(self) -> None: ...

    def answered(self) -> int: ...

    def close(self) -> None: ...


class GroupSync:
    """Runs a blocking ``sync`` (a commit and its fsync) once for every coroutine that asks
    for it in the same turn of the event loop: the first to ask schedules one run, after
    the callbacks that are ready now; those that ask before it runs wait for the same run.
    A caller's own work (its commit) is done before it asks, so the run covers it.

    Without ``background`` the run is on the loop itself. With it, the run only
    ``commit``s on the loop and hands the fsync to what ``background()`` makes (once, on
    first use: a helper process), and the loop goes on with the next turn's requests; the
    callers wake when the background answers. Should the background fail, the run it had
    not answered (and every run for the next :data:`RESTART_AFTER` seconds) syncs on the
    loop, then a new background is made. Belongs to one event loop at a time: on another
    loop (a test's second client), a new background is made for it."""

    def __init__(
        self,
        sync: Callable[[], None],
        *,
        commit: Callable[[], None] | None = None,
        background: Callable[[], BackgroundSync] | None = None,
    ) -> None:
        if background is not None and commit is None:
            raise ValueError("a background sync needs the commit to run on the loop first")
        self._sync = sync
        self._commit = commit
        self._make_background = background
        self._background: BackgroundSync | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the one watching the background
        self._start_after = 0.0  # loop time before which no background is made
        self._next: asyncio.Future[None] | None = None
        self._handed: collections.deque[asyncio.Future[None]] = collections.deque()
        self.runs = 0
        """How many runs there were, one per turn that asked (for tests and benches)."""

    async def __call__(self) -> None:
        group = self._next
        if group is None:
            loop = asyncio.get_running_loop()
            group = self._next = loop.create_future()
            loop.call_soon(self._run)
        # Shielded: a caller that is cancelled must not cancel the others' sync.
        await asyncio.shield(group)

    def _run(self) -> None:
        group, self._next = self._next, None
        assert group is not None
        self.runs += 1
        background = self._watched(group.get_loop())
        if background is None:
            self._sync_now([group])
            return
        assert self._commit is not None  # given with the background (__init__)
        try:
            self._commit()
        except Exception as exc:
            group.set_exception(exc)
            return
        self._handed.append(group)
        try:
            background.request()
        except Exception as exc:
            self._fall_back(exc)

    def _sync_now(self, groups: Collection[asyncio.Future[None]]) -> None:
        """Run ``sync`` on the loop for ``groups``, and wake their callers."""
        try:
            self._sync()
        except Exception as exc:
            for group in groups:
                group.set_exception(exc)
        else:
            for group in groups:
                group.set_result(None)

    def _watched(self, loop: asyncio.AbstractEventLoop) -> BackgroundSync | None:
        """The background this loop watches: made when there is none (or it watched another
        loop) and the time has come."""
        if self._background is not None and self._loop is not loop:
            self.close()
            self._handed.clear()  # the other loop's callers: nothing here can wake them
        if self._background is None and self._make_background is not None:
            if loop.time() < self._start_after:
                return None
            try:
                background = self._make_background()
            except Exception as exc:
                log.warning("background_sync_unavailable", error=str(exc))
                self._start_after = loop.time() + RESTART_AFTER
                return None
            loop.add_reader(background.fileno(), self._answered)
            self._background, self._loop = background, loop
        return self._background

    def _answered(self) -> None:
        assert self._background is not None
        try:
            count = self._background.answered()
        except Exception as exc:
            self._fall_back(exc)
            return
        for _ in range(count):
            self._handed.popleft().set_result(None)

    def _fall_back(self, error: Exception) -> None:
        """The background is gone: sync here what it had not answered."""
        log.warning("background_sync_failed", error=str(error), waiting=len(self._handed))
        loop = self._loop
        self.close()
        if loop is not None:
            self._start_after = loop.time() + RESTART_AFTER
        handed, self._handed = self._handed, collections.deque()
        self._sync_now(handed)

    def close(self) -> None:
        """Stop the background, if one runs (callers still waiting for it are not woken)."""
        background, self._background = self._background, None
        loop, self._loop = self._loop, None
        if background is not None:
            if loop is not None and not loop.is_closed():
                loop.remove_reader(background.fileno())
            background.close()


class LoopGate:
    """Enters a :class:`FileWriteGate` for the event loop's thread without blocking the
    loop: at once when it is free; else one helper thread waits for it (while another
    process, or another thread of this one, holds it) and enters it on the loop thread's
    behalf, and every coroutine that asked meanwhile goes on in the same turn of the loop.
    A caller leaves the gate with ``gate.__exit__`` as usual. Belongs to one event loop.

    Without it an HTTP process whose commands found the gate taken by another process
    stopped its whole loop until that one's commit was done."""

    def __init__(self, gate: FileWriteGate) -> None:
        self.gate = gate
        self._taking: asyncio.Future[None] | None = None
        self._granted = False  # the helper entered it, and no waiter has taken that over
        self._waiters = 0

    async def enter(self) -> None:
        gate = self.gate
        while True:
            taking = self._taking
            # While the helper waits, later callers queue behind it rather than overtake
            # the callers already waiting (unless this thread holds the gate anyway).
            if (taking is None or gate.held_here()) and gate.try_enter():
                return
            if taking is None:
                loop = asyncio.get_running_loop()
                owner = threading.get_ident()
                taking = self._taking = loop.run_in_executor(None, gate.enter_for, owner)
                taking.add_done_callback(self._taken)
            self._waiters += 1
            try:
                await asyncio.shield(taking)
            except BaseException:
                self._waiters -= 1
                self._drop_unclaimed()
                raise
            self._waiters -= 1
            if self._granted:  # the helper's entry becomes this caller's
                self._granted = False
                return

    def _taken(self, taking: asyncio.Future[None]) -> None:
        self._taking = None
        if not taking.cancelled() and taking.exception() is None:
            self._granted = True
            self._drop_unclaimed()

    def _drop_unclaimed(self) -> None:
        """Every waiter gave up (cancelled) before the helper's entry was taken over."""
        if self._granted and self._waiters == 0:
            self._granted = False
            self.gate.__exit__(None, None, None)


class InlineCommands(QueryRunner):
    """Runs calls on the embedded SQLite event store inline on the event loop (a command's
    decision and commit take well under a millisecond), and answers a call that appended
    only once its commit is on disk: one fsync for every command that committed in the
    same turn of the loop (:class:`GroupSync`) instead of one each. Measured: 1.22-1.37x
    commands/s, 0.65x the CPU per command (wrk, six alternating rounds).

    The commands of one turn also share one transaction (``deferred_sync(shared=True)``),
    committed by that sync just before its fsync: 36 -> 15 KiB written and 19 -> 9 write
    calls per command, 0.94x the CPU per command, 1.08x commands/s (one HTTP process under
    wrk, five alternating pairs). Each call enters the file's write gate first through a
    :class:`LoopGate`: while another process holds it, the loop goes on with its other
    requests, and the calls that waited commit together once it is free.

    ``sync_helper`` (with durability "full"): the fsync runs in a helper process
    (:class:`~eventfold.adapters.sqlite.wal_helper.WalSyncHelper`) while the loop goes on
    with the next turn; the turn's transaction is still committed on the loop first.
    Measured on 2 cores where an fsync took about 0.5 ms (bench/pipeline.py, four
    alternating pairs): 1.05-1.09x commands/s over 50 SKUs, 1.05-1.21x on one SKU. False:
    the fsync runs on the loop, as it did before."""

    def __init__(self, store: SqliteEventStore, *, sync_helper: bool = True) -> None:
        super().__init__(inline=True)
        self._store = store
        helper = None
        if sync_helper and store.durability == "full":
            helper = functools.partial(WalSyncHelper, store.path)
        self._durable = GroupSync(
            store.make_durable, commit=store.commit_deferred, background=helper
        )
        gate = store.write_gate
        self._gate = LoopGate(gate) if isinstance(gate, FileWriteGate) else None

    async def __call__(self, query: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        deferred = None
        gate = self._gate
        if gate is not None:
            await gate.enter()
        try:
            with self._store.deferred_sync(shared=True) as deferred:
                return query(*args, **kwargs)
        finally:
            if gate is not None:
                gate.gate.__exit__(None, None, None)  # a transaction it opened keeps its own
            # Also when the call failed after it appended: what committed is made durable.
            if deferred is not None and deferred.needed:
                await self._durable()


def store_runner(store: EventStore) -> QueryRunner:
    """The runner for commands on ``store``: inline, with the commits' fsyncs shared and
    the write gate entered first, for the embedded SQLite store (:class:`InlineCommands`);
    a worker thread for a network store. Reads go through :func:`store_reader`."""
    if isinstance(store, SqliteEventStore):
        return InlineCommands(store)
    return QueryRunner(inline=False)


def store_reader(store: EventStore) -> QueryRunner:
    """The runner for reads only on ``store``: inline for the embedded SQLite store (a WAL
    read never waits for a writer, nor here for the write gate), a worker thread for a
    network store. Inline on a loop whose commands share a transaction, a read also sees
    what this turn's commands appended before it (as the next command would)."""
    return QueryRunner(inline=isinstance(store, SqliteEventStore))
