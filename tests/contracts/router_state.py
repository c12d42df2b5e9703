"""The RouterState contract: every router-state adapter passes these tests.

Subclass in the adapter's test module and provide a ``state`` fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventfold.core.router.ports import BEGINNING, RouterState
from eventfold.domain.events import RecordedEvent


def recorded(stream_id: str, version: int) -> RecordedEvent:
    return RecordedEvent(
        stream_id,
        version,
        "Happened",
        b'{"v":%d}' % version,
        2,
        {"k": "v"},
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        position=version * 10,
    )


class RouterStateContract:
    @pytest.fixture
    def state(self) -> RouterState:
        raise NotImplementedError("an adapter's test class provides the state fixture")

    def test_a_new_subscription_starts_at_the_beginning(self, state: RouterState) -> None:
        assert state.checkpoint("rows") == BEGINNING

    def test_advance_moves_only_from_the_expected_checkpoint(self, state: RouterState) -> None:
        assert state.advance("rows", BEGINNING, "5")
        assert not state.advance("rows", BEGINNING, "9")
        assert state.checkpoint("rows") == "5"
        assert state.advance("rows", "5", "7")
        assert state.checkpoint("rows") == "7"

    def test_reset_sets_the_checkpoint(self, state: RouterState) -> None:
        state.advance("rows", BEGINNING, "5")
        state.reset("rows", "2")
        assert state.checkpoint("rows") == "2"
        assert state.checkpoint("other") == BEGINNING

    def test_versions_are_kept_per_subscription_and_never_lowered(self, state: RouterState) -> None:
        state.record_applied("rows", {"a-1": 3, "b-1": 1})
        state.record_applied("rows", {"a-1": 2})
        state.record_applied("mail", {"a-1": 9})
        assert state.applied_versions("rows", ["a-1", "b-1", "c-1"]) == {"a-1": 3, "b-1": 1}
        assert state.applied_versions("mail", ["a-1"]) == {"a-1": 9}

    def test_many_streams_can_be_asked_at_once(self, state: RouterState) -> None:
        state.record_applied("rows", {f"a-{i}": i for i in range(1, 1501)})
        found = state.applied_versions("rows", [f"a-{i}" for i in range(1, 1502)])
        assert len(found) == 1500
        assert found["a-1500"] == 1500

    def test_parked_events_wait_in_version_order(self, state: RouterState) -> None:
        state.park("rows", "a-1", [recorded("a-1", 3), recorded("a-1", 2)], "boom")
        state.park("rows", "a-1", [recorded("a-1", 3), recorded("a-1", 4)], "later")
        assert state.parked_streams("rows") == {"a-1"}
        assert state.parked_streams("mail") == set()
        waiting = state.parked_events("rows", "a-1")
        assert [e.version for e in waiting] == [2, 3, 4]
        assert waiting[0] == recorded("a-1", 2)

    def test_list_parked_describes_each_parked_stream(self, state: RouterState) -> None:
        state.park("rows", "a-1", [recorded("a-1", 2), recorded("a-1", 3)], "boom")
        state.park("mail", "b-1", [recorded("b-1", 1)], "smtp down")
        [parked] = state.list_parked("rows")
        assert (parked.subscription, parked.stream_id, parked.reason) == ("rows", "a-1", "boom")
        assert (parked.first_version, parked.last_version, parked.count) == (2, 3, 2)
        assert parked.parked_at.tzinfo is not None
        assert {p.stream_id for p in state.list_parked()} == {"a-1", "b-1"}

    def test_unpark_drops_what_was_handled_and_unparks_when_empty(self, state: RouterState) -> None:
        state.park("rows", "a-1", [recorded("a-1", 2), recorded("a-1", 3)], "boom")
        assert not state.unpark("rows", "a-1", 2)
        assert [e.version for e in state.parked_events("rows", "a-1")] == [3]
        assert state.unpark("rows", "a-1", 3)
        assert state.parked_streams("rows") == set()
        assert state.list_parked() == []
