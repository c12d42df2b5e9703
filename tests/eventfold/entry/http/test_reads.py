"""Read-your-writes waits on the event loop: ReadYourWrites against a scripted target and
store (no database), each test one ``asyncio.run``."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import cast

import pytest

from eventfold import EventStore, NotYetVisible, Snapshot, StreamNotFound, VersionNotFound
from eventfold.web import QueryRunner, ReadYourWrites


class Target:
    """applied_versions from a dict the test moves forward; every query is recorded."""

    def __init__(self) -> None:
        self.applied: dict[str, int] = {}
        self.queries: list[list[str]] = []

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        self.queries.append(list(stream_ids))
        return {s: self.applied[s] for s in stream_ids if s in self.applied}


class Store:
    """Only ``load``: the version each stream is at in the event store."""

    def __init__(self, versions: dict[str, int]) -> None:
        self.versions = versions
        self.loads = 0

    def load(self, stream_id: str) -> Snapshot | None:
        self.loads += 1
        version = self.versions.get(stream_id)
        return None if version is None else Snapshot(version, b"{}", "f")


def waits(target: Target, store: Store | None, timeout: float = 5.0) -> ReadYourWrites:
    inline = QueryRunner(inline=True)
    only_load = cast(EventStore | None, store)  # the wait only ever calls load
    return ReadYourWrites(target, only_load, timeout=timeout, run_target=inline, run_store=inline)


def test_a_version_already_applied_is_answered_without_asking_the_store() -> None:
    target, store = Target(), Store({"s-1": 3})
    target.applied["s-1"] = 3
    assert asyncio.run(waits(target, store).wait("s-1", 2)) == 3
    assert asyncio.run(waits(target, store).wait("s-1", None)) == 0
    assert store.loads == 0


def test_a_stream_the_store_never_saw_is_not_found_at_once() -> None:
    target, store = Target(), Store({})
    with pytest.raises(StreamNotFound) as caught:
        asyncio.run(waits(target, store, timeout=30).wait("never-1", 1))
    assert type(caught.value) is StreamNotFound
    assert caught.value.stream_id == "never-1"
    assert len(target.queries) == 1  # one look, no polling


def test_a_version_beyond_the_store_is_not_found_at_once() -> None:
    target, store = Target(), Store({"s-1": 2})
    with pytest.raises(VersionNotFound) as caught:
        asyncio.run(waits(target, store, timeout=30).wait("s-1", 3))
    assert (caught.value.stream_id, caught.value.wanted, caught.value.current) == ("s-1", 3, 2)
    assert "version 3 does not exist" in str(caught.value)


def test_a_lagging_query_model_is_waited_for_then_503_after_the_bound() -> None:
    target, store = Target(), Store({"s-1": 4})
    target.applied["s-1"] = 1
    with pytest.raises(NotYetVisible) as caught:
        asyncio.run(waits(target, store, timeout=0.05).wait("s-1", 4))
    assert (caught.value.wanted, caught.value.visible) == (4, 1)


def test_without_a_store_every_wait_runs_to_its_bound() -> None:
    with pytest.raises(NotYetVisible):
        asyncio.run(waits(Target(), None, timeout=0.02).wait("never-1", 1))


def test_many_waits_share_one_poller_and_leave_nothing_behind() -> None:
    target = Target()
    streams = [f"s-{n}" for n in range(200)]
    store = Store(dict.fromkeys(streams, 1))
    ryw = waits(target, store)

    async def scenario() -> list[int]:
        pending = [asyncio.create_task(ryw.wait(s, 1)) for s in streams]
        while ryw.waiting < len(streams):
            await asyncio.sleep(0.001)
        polls_before = len(target.queries)
        await asyncio.sleep(0.05)
        # Every tick since is ONE query naming every stream still waited on.
        ticks = target.queries[polls_before:]
        assert ticks
        assert all(sorted(tick) == sorted(streams) for tick in ticks)
        for s in streams:
            target.applied[s] = 1
        return await asyncio.gather(*pending)

    assert asyncio.run(scenario()) == [1] * 200
    assert ryw.waiting == 0


def test_a_cancelled_wait_leaves_the_poller() -> None:
    target = Target()
    ryw = waits(target, Store({"s-1": 1}))

    async def scenario() -> None:
        task = asyncio.create_task(ryw.wait("s-1", 1))
        while ryw.waiting == 0:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert ryw.waiting == 0


def test_a_failing_query_model_fails_the_waits_instead_of_hanging() -> None:
    class Broken(Target):
        def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
            if self.queries:
                raise RuntimeError("query model down")
            return super().applied_versions(stream_ids)

    ryw = waits(Broken(), Store({"s-1": 1}))
    with pytest.raises(RuntimeError, match="query model down"):
        asyncio.run(ryw.wait("s-1", 1))
    assert ryw.waiting == 0


def test_queries_run_in_a_worker_thread_unless_inline() -> None:
    import threading

    def where() -> str:
        return threading.current_thread().name

    async def scenario() -> tuple[str, str]:
        return await QueryRunner(inline=True)(where), await QueryRunner(inline=False)(where)

    inline, threaded = asyncio.run(scenario())
    assert inline == threading.current_thread().name
    assert threaded != inline


def test_waits_on_two_event_loops_at_once_both_end_and_leave_nothing() -> None:
    """A TestClient without ``with`` serves each request on a loop of its own."""
    import threading

    target = Target()
    ryw = waits(target, Store({"s-1": 1}))
    got: list[int] = []
    both_waiting = threading.Barrier(3)

    async def wait_on_my_loop() -> int:
        task = asyncio.create_task(ryw.wait("s-1", 1))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(both_waiting.wait, 10)
        return await task

    threads = [
        threading.Thread(target=lambda: got.append(asyncio.run(wait_on_my_loop())))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    both_waiting.wait(10)
    target.applied["s-1"] = 1
    for thread in threads:
        thread.join(10)
    assert got == [1, 1]
    assert ryw.waiting == 0
