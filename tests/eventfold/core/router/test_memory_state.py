from __future__ import annotations

import sys
import threading

import pytest

from eventfold.core.router.memory import MemoryRouterState
from tests.contracts.applied_versions import AppliedVersionsContract
from tests.contracts.checkpoints import CheckpointsContract
from tests.contracts.parking_lot import ParkingLotContract


class TestMemoryCheckpoints(CheckpointsContract):
    @pytest.fixture
    def checkpoints(self) -> MemoryRouterState:
        return MemoryRouterState()


class TestMemoryAppliedVersions(AppliedVersionsContract):
    @pytest.fixture
    def versions(self) -> MemoryRouterState:
        return MemoryRouterState()


class TestMemoryParkingLot(ParkingLotContract):
    @pytest.fixture
    def parking(self) -> MemoryRouterState:
        return MemoryRouterState()


def test_reads_while_another_thread_parks_never_see_a_dict_change_size() -> None:
    """The port promises thread-safety: a runner parks while an operator's tool lists."""
    state = MemoryRouterState()
    for i in range(2000):
        state.park("rows", f"a-{i}", [], "boom")

    def park_more() -> None:
        for i in range(2000):
            state.park("rows", f"b-{i}", [], "boom")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a race shows at once
    parker = threading.Thread(target=park_more)
    parker.start()
    try:
        while parker.is_alive():
            state.parked_streams("rows")
            state.list_parked()
    finally:
        parker.join()
        sys.setswitchinterval(interval)
    assert len(state.parked_streams("rows")) == 4000
