"""Where an ``async`` route runs its blocking calls on a store or a query model.

:class:`QueryRunner`: on the event loop itself when the database is a local SQLite file (a
WAL read takes well under a millisecond and never waits for a writer, so the hop to a
worker thread and back costs more than it saves; measured under wrk: 1.2-1.7x the
requests/s of the same route hopping), in a worker thread (``anyio.to_thread``) when it is
a network database (MySQL, DynamoDB), whose round trip must not stall the loop.

:class:`InlineCommands` (what :func:`store_runner` gives for the embedded event store) runs
commands inline too, and answers them only once their commits are on disk, one fsync for
all the commands of one turn of the loop (:class:`GroupSync`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from anyio import to_thread
from sqlalchemy import Engine

from eventfold.adapters.sqlite.event_store import SqliteEventStore
from eventfold.adapters.sqlite.plumbing import FileWriteGate
from eventfold.core.ports import EventStore

P = ParamSpec("P")
T = TypeVar("T")


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


class GroupSync:
    """Runs a blocking ``sync`` (an fsync) once for every coroutine that asks for it in
    the same turn of the event loop: the first to ask schedules one run, after the
    callbacks that are ready now; those that ask before it runs wait for the same run.
    A caller's own work (its commit) is done before it asks, so the run covers it.

    The run is on the loop itself: an fsync of the WAL takes about 0.13 ms here, and
    running it in a worker thread cost more in GIL handovers than it let overlap
    (0.84-1.01x the commands/s of this, wrk over loopback). Belongs to one event loop."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self._sync = sync
        self._next: asyncio.Future[None] | None = None
        self.runs = 0
        """How many times ``sync`` ran (for tests and benches)."""

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
        try:
            self._sync()
        except Exception as exc:
            group.set_exception(exc)
        else:
            group.set_result(None)


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
    requests, and the calls that waited commit together once it is free."""

    def __init__(self, store: SqliteEventStore) -> None:
        super().__init__(inline=True)
        self._store = store
        self._durable = GroupSync(store.make_durable)
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
