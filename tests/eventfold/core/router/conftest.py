from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.router_state.sqlite import SqliteRouterState


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    store = SqliteEventStore(tmp_path / "events.db", durability="off")
    yield store
    store.close()


@pytest.fixture
def state(store: SqliteEventStore) -> Iterator[SqliteRouterState]:
    state = SqliteRouterState(store.path, durability="off")
    yield state
    state.close()
