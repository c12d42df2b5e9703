"""Read-your-writes for ``async`` query routes: wait for a version without holding a thread.

A client that just wrote version ``v`` of a stream passes ``?min_version=v`` with its next
read; the route awaits :meth:`ReadYourWrites.wait` before reading the query model:

1. the query model is asked once (``applied_versions``); at ``v`` or later: go on;
2. otherwise the event store is asked what it holds (``load``, one read of the state row).
   A stream the store has never seen is answered at once with
   :class:`~eventfold.errors.StreamNotFound` (404); a ``v`` above the store's own version
   with :class:`~eventfold.errors.VersionNotFound` (404): no wait could make either
   visible, and the caller did not write it (a committed write is in the store before its
   version is returned to anyone);
3. otherwise the request waits on the event loop, holding no thread, until the query model
   shows ``v`` or the bound passes (:class:`~eventfold.errors.NotYetVisible`, 503 with
   ``Retry-After``). The waits of one :class:`ReadYourWrites` share ONE poller: each tick
   is one ``applied_versions`` query for every stream being waited
   on, however many requests wait; the pause between ticks starts again at ``first_poll``
   when a new waiter arrives (after the tick already waited for) and doubles up to
   ``max_poll``.

Where the queries run is a :class:`~eventfold.entry.http.runners.QueryRunner`'s choice.
A wait whose client went away still runs to its bound (the server does not cancel the
request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eventfold.core.ports import EventStore
from eventfold.core.router.ports import TracksVersions
from eventfold.entry.http.runners import QueryRunner
from eventfold.errors import NotYetVisible, StreamNotFound, VersionNotFound

DEFAULT_FIRST_POLL = 0.001
DEFAULT_MAX_POLL = 0.02


@dataclass(slots=True)
class _Poller:
    """The waiters of one event loop and the task that polls for them."""

    loop: asyncio.AbstractEventLoop
    waiting: dict[str, list[_Waiter]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    pause: float = DEFAULT_FIRST_POLL


@dataclass(eq=False, slots=True)
class _Waiter:
    version: int
    future: asyncio.Future[int]
    poller: _Poller
    visible: int = 0


class ReadYourWrites:
    """Waits (bounded by ``timeout`` seconds) until ``target`` shows a version of a stream.

    ``store``: the event store the target follows, asked once before waiting whether the
    version can ever be seen (None: not asked, every wait runs to its bound). ``run_target``
    and ``run_store`` run their blocking reads (default: a worker thread).
    """

    def __init__(
        self,
        target: TracksVersions,
        store: EventStore | None,
        *,
        timeout: float,
        run_target: QueryRunner | None = None,
        run_store: QueryRunner | None = None,
        first_poll: float = DEFAULT_FIRST_POLL,
        max_poll: float = DEFAULT_MAX_POLL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.store = store
        self.timeout = max(0.0, timeout)
        self.first_poll = first_poll
        self.max_poll = max_poll
        self._clock = clock
        self._run_target = run_target or QueryRunner(inline=False)
        self._run_store = run_store or QueryRunner(inline=False)
        self._poller: _Poller | None = None

    async def wait(self, stream_id: str, min_version: int | None) -> int:
        """Return the version of ``stream_id`` the query model shows once it is at least
        ``min_version`` (None: return 0 at once, nothing asked). Raises StreamNotFound or
        VersionNotFound (404) when the store cannot reach ``min_version``, NotYetVisible
        (503) when the bound passes first."""
        if min_version is None:
            return 0
        started = self._clock()
        visible = await self._applied(stream_id)
        if visible >= min_version:
            return visible
        await self._check_reachable(stream_id, min_version)
        left = self.timeout - (self._clock() - started)
        if left <= 0:
            raise NotYetVisible(stream_id, min_version, visible, self._clock() - started)
        waiter = self._join(stream_id, min_version, visible)
        try:
            return await asyncio.wait_for(waiter.future, left)
        except TimeoutError:
            raise NotYetVisible(
                stream_id, min_version, waiter.visible, self._clock() - started
            ) from None
        finally:
            self._leave(stream_id, waiter)

    @property
    def waiting(self) -> int:
        """How many requests wait now (for tests and metrics)."""
        poller = self._poller
        return 0 if poller is None else sum(len(w) for w in poller.waiting.values())

    async def _applied(self, stream_id: str) -> int:
        seen = await self._run_target(self.target.applied_versions, [stream_id])
        return int(seen.get(stream_id, 0))

    async def _check_reachable(self, stream_id: str, min_version: int) -> None:
        if self.store is None:
            return
        snapshot = await self._run_store(self.store.load, stream_id)
        if snapshot is None:
            raise StreamNotFound(stream_id)
        if snapshot.version < min_version:
            raise VersionNotFound(stream_id, min_version, snapshot.version)

    # -- the shared poller ---------------------------------------------------------------
    def _join(self, stream_id: str, version: int, visible: int) -> _Waiter:
        loop = asyncio.get_running_loop()
        poller = self._poller
        if poller is None or poller.loop is not loop:
            # A new loop (an app served again, a test client): the old one's waiters are gone.
            poller = self._poller = _Poller(loop)
        waiter = _Waiter(version, loop.create_future(), poller, visible)
        poller.waiting.setdefault(stream_id, []).append(waiter)
        poller.pause = self.first_poll
        if poller.task is None or poller.task.done():
            poller.task = loop.create_task(self._poll(poller), name="eventfold-read-your-writes")
        return waiter

    def _leave(self, stream_id: str, waiter: _Waiter) -> None:
        poller = waiter.poller  # the one it joined, even if another loop's came since
        waiters = poller.waiting.get(stream_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del poller.waiting[stream_id]
        if not waiter.future.done():
            waiter.future.cancel()

    async def _poll(self, poller: _Poller) -> None:
        while poller.waiting:
            await asyncio.sleep(poller.pause)
            poller.pause = min(self.max_poll, poller.pause * 2)
            streams = list(poller.waiting)
            if not streams:
                return
            try:
                seen = await self._run_target(self.target.applied_versions, streams)
            except Exception as exc:  # the query model failed: every waiter hears it
                for waiters in poller.waiting.values():
                    for waiter in waiters:
                        if not waiter.future.done():
                            waiter.future.set_exception(exc)
                poller.waiting.clear()
                return
            for stream_id in streams:
                visible = int(seen.get(stream_id, 0))
                for waiter in poller.waiting.get(stream_id, ()):
                    waiter.visible = visible
                    if visible >= waiter.version and not waiter.future.done():
                        waiter.future.set_result(visible)
