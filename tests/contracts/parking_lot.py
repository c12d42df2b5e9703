"""The ParkingLot contract: every adapter of the port passes these tests.

Subclass in the adapter's test module and provide a ``parking`` fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventfold.core.router.ports import ParkingLot
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


class ParkingLotContract:
    @pytest.fixture
    def parking(self) -> ParkingLot:
        raise NotImplementedError("an adapter's test class provides the parking fixture")

    def test_parked_events_wait_in_version_order(self, parking: ParkingLot) -> None:
        parking.park("rows", "a-1", [recorded("a-1", 3), recorded("a-1", 2)], "boom")
        parking.park("rows", "a-1", [recorded("a-1", 3), recorded("a-1", 4)], "later")
        assert parking.parked_streams("rows") == {"a-1"}
        assert parking.parked_streams("mail") == set()
        waiting = parking.parked_events("rows", "a-1")
        assert [e.version for e in waiting] == [2, 3, 4]
        assert waiting[0] == recorded("a-1", 2)

    def test_list_parked_describes_each_parked_stream(self, parking: ParkingLot) -> None:
        parking.park("rows", "a-1", [recorded("a-1", 2), recorded("a-1", 3)], "boom")
        parking.park("mail", "b-1", [recorded("b-1", 1)], "smtp down")
        [parked] = parking.list_parked("rows")
        assert (parked.subscription, parked.stream_id, parked.reason) == ("rows", "a-1", "boom")
        assert (parked.first_version, parked.last_version, parked.count) == (2, 3, 2)
        assert parked.parked_at.tzinfo is not None
        assert {p.stream_id for p in parking.list_parked()} == {"a-1", "b-1"}

    def test_unpark_drops_what_was_handled_and_unparks_when_empty(
        self, parking: ParkingLot
    ) -> None:
        parking.park("rows", "a-1", [recorded("a-1", 2), recorded("a-1", 3)], "boom")
        assert not parking.unpark("rows", "a-1", 2)
        assert [e.version for e in parking.parked_events("rows", "a-1")] == [3]
        assert parking.unpark("rows", "a-1", 3)
        assert parking.parked_streams("rows") == set()
        assert parking.list_parked() == []

    def test_a_stream_with_nothing_waiting_unparks(self, parking: ParkingLot) -> None:
        """What a redrive does when the waiting events were handled elsewhere."""
        parking.park("rows", "a-1", [], "boom")
        assert parking.parked_streams("rows") == {"a-1"}
        assert parking.unpark("rows", "a-1", 0)
        assert parking.parked_streams("rows") == set()
        assert parking.parked_events("rows", "a-1") == []
