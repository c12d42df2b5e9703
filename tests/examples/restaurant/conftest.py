"""Fixtures: a real SQLite event store in tmp_path and the service's command handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventfold import CommandHandler, SqliteEventStore
from restaurant.app import make_handler


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    opened = SqliteEventStore(tmp_path / "events.db", durability="normal")
    yield opened
    opened.close()


@pytest.fixture
def handler(store: SqliteEventStore) -> CommandHandler:
    return make_handler(store)
