"""``state``: router state in the ``store`` fixture's file (tests/eventfold/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState


@pytest.fixture
def state(store: SqliteEventStore) -> Iterator[SqliteRouterState]:
    state = SqliteRouterState(store.path, durability="off")
    yield state
    state.close()
