"""Rebuild: fresh tables from the event store, swapped in; the live feed takes over."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventfold import DeliveryFailed, RecordedEvent, SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import EventFilter, Subscription
from eventfold.core.router.rebuild import rebuild
from tests.eventfold.core.router.targets import RebuildableSqliteTarget, ShadowTarget, fill


def test_rebuild_replaces_the_tables_and_hands_back_the_checkpoint(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3, "b-1": 2, "c-1": 1})
    target = RebuildableSqliteTarget(tmp_path / "t.db")
    target.apply(store.read("a-1", limit=1))  # the live tables hold something stale
    state.reset("rows", "4")
    seen: list[int] = []

    def progress(done: int) -> None:
        seen.append(done)
        state.advance("rows", "4", "6")  # meanwhile, the live feed moves on

    wanted = EventFilter(categories=frozenset({"a", "b"}))
    applied = rebuild(Subscription("rows", target, wanted), store, state, progress=progress)
    assert applied == 5
    assert sum(seen) == 6  # every scanned event counts towards progress
    assert target.by_stream() == {"a-1": [1, 2, 3], "b-1": [1, 2]}
    assert target.applied_versions(["a-1", "b-1", "c-1"]) == {"a-1": 3, "b-1": 2}
    assert state.checkpoint("rows") == "4"  # the live feed replays from where the scan began


def poison(event: RecordedEvent) -> None:
    if event.version == 2:
        raise ValueError("cannot read version 2")


class PoisonedRebuild(RebuildableSqliteTarget):
    """Its shadow fails on version 2 (the live target would not)."""

    def begin_rebuild(self) -> ShadowTarget:
        shadow = super().begin_rebuild()
        shadow.faults.append(poison)
        return shadow


def test_a_failing_event_aborts_and_leaves_the_live_tables(
    tmp_path: Path, store: SqliteEventStore, state: SqliteRouterState
) -> None:
    fill(store, {"a-1": 3})
    target = PoisonedRebuild(tmp_path / "t.db")
    target.apply(store.read("a-1", limit=1))
    with pytest.raises(DeliveryFailed, match=r"a-1:1 to a-1:3: ValueError: cannot read") as caught:
        rebuild(Subscription("rows", target), store, state)
    assert not caught.value.retryable
    assert target.by_stream() == {"a-1": [1]}
