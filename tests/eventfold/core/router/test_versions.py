"""Version keeping, chosen once per router: by the router, or by a target that tracks its own."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from eventfold.core.router.memory import MemoryRouterState
from eventfold.core.router.ports import Plan
from eventfold.core.router.versions import (
    KeptByRouter,
    KeptByTarget,
    PlannedByTarget,
    keep_versions,
)
from eventfold.domain.events import RecordedEvent


def event(stream_id: str, version: int) -> RecordedEvent:
    return RecordedEvent(stream_id, version, "Happened", b"{}", 1, {}, datetime.now(UTC))


class CountingVersions(MemoryRouterState):
    """Applied versions that count reads and writes."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []
        self.writes: list[dict[str, int]] = []

    def applied_versions(self, subscription: str, stream_ids: Collection[str]) -> dict[str, int]:
        self.reads.append(list(stream_ids))
        return super().applied_versions(subscription, stream_ids)

    def record_applied(self, subscription: str, versions: Mapping[str, int]) -> None:
        self.writes.append(dict(versions))
        super().record_applied(subscription, versions)


class Plain:
    name = "plain"

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        pass


class Tracking(Plain):
    def __init__(self, versions: dict[str, int]) -> None:
        self.versions = versions

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        return {s: self.versions[s] for s in stream_ids if s in self.versions}


class Planning(Tracking):
    def apply_planned(self, stream_ids: Collection[str], plan: Plan) -> None:
        plan(self.applied_versions(stream_ids))


class PlanningOnly(Plain):
    """Plans in a transaction but keeps no versions: the router must keep them."""

    def apply_planned(self, stream_ids: Collection[str], plan: Plan) -> None:
        raise AssertionError("never planned in: it cannot say its versions")


def test_the_keeping_follows_what_the_target_can_do() -> None:
    versions = MemoryRouterState()
    assert type(keep_versions("s", Plain(), versions)) is KeptByRouter
    assert type(keep_versions("s", PlanningOnly(), versions)) is KeptByRouter
    assert type(keep_versions("s", Tracking({}), versions)) is KeptByTarget
    assert type(keep_versions("s", Planning({}), versions)) is PlannedByTarget


def test_kept_by_the_router_reads_each_stream_once_and_writes_once_per_flush() -> None:
    versions = CountingVersions()
    versions.record_applied("s", {"a-1": 2})
    versions.writes.clear()
    keeping = KeptByRouter("s", versions)
    assert keeping.last_versions(["a-1", "b-1"]) == {"a-1": 2, "b-1": 0}
    keeping.applied([event("a-1", 3), event("b-1", 1)])
    keeping.passed_over("b-1", 2)
    assert keeping.last_versions(["a-1", "b-1"]) == {"a-1": 3, "b-1": 2}
    keeping.flush()
    keeping.flush()
    assert versions.reads == [["a-1", "b-1"]]
    assert versions.writes == [{"a-1": 3, "b-1": 2}]


def test_a_skip_is_recorded_at_once_and_the_stream_read_again() -> None:
    versions = CountingVersions()
    keeping = KeptByRouter("s", versions)
    keeping.last_versions(["a-1"])
    keeping.skip("a-1", 5)
    assert versions.writes == [{"a-1": 5}]
    assert keeping.last_versions(["a-1"]) == {"a-1": 5}
    assert len(versions.reads) == 2


def test_kept_by_the_target_takes_the_largest_of_target_skip_and_filtered_progress() -> None:
    versions = CountingVersions()
    versions.record_applied("s", {"b-1": 4})  # an operator skipped b-1 through 4
    keeping = KeptByTarget("s", versions, Tracking({"a-1": 3, "b-1": 2, "c-1": 1}))
    keeping.passed_over("c-1", 6)  # events the filter left out
    assert keeping.last_versions(["a-1", "b-1", "c-1", "d-1"]) == {"a-1": 3, "b-1": 4, "c-1": 6}
    keeping.forget("c-1")
    assert keeping.last_versions(["c-1"]) == {"c-1": 1}


def test_kept_by_the_target_writes_nothing_but_skips() -> None:
    versions = CountingVersions()
    keeping = KeptByTarget("s", versions, Tracking({}))
    keeping.applied([event("a-1", 1)])
    keeping.passed_over("a-1", 2)
    keeping.flush()
    assert versions.writes == []
    keeping.skip("b-1", 3)
    assert versions.writes == [{"b-1": 3}]


def test_planned_by_the_target_plans_from_the_merged_versions() -> None:
    versions = MemoryRouterState()
    versions.record_applied("s", {"b-1": 4})
    target = Planning({"a-1": 3})
    keeping = PlannedByTarget("s", versions, target, target)
    keeping.passed_over("c-1", 2)
    seen: list[Mapping[str, int]] = []

    def plan(lasts: Mapping[str, int]) -> list[RecordedEvent]:
        seen.append(lasts)
        return []

    keeping.apply_planned(["a-1", "b-1", "c-1"], plan)
    assert seen == [{"a-1": 3, "b-1": 4, "c-1": 2}]
