from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventfold.adapters.router_state.sqlite import SqliteRouterState
from tests.contracts.router_state import RouterStateContract


class TestSqliteRouterState(RouterStateContract):
    @pytest.fixture
    def state(self, tmp_path: Path) -> Iterator[SqliteRouterState]:
        state = SqliteRouterState(tmp_path / "state.db", durability="off")
        yield state
        state.close()
