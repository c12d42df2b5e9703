from __future__ import annotations

import pytest

from eventfold.core.router.memory import MemoryRouterState
from tests.contracts.router_state import RouterStateContract


class TestMemoryRouterState(RouterStateContract):
    @pytest.fixture
    def state(self) -> MemoryRouterState:
        return MemoryRouterState()
