"""``store``: the SQLite event store the library's tests share (a test module may define
its own ``store`` where it needs another one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventfold import SqliteEventStore
from tests.sqlite_support import sqlite_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    """Durability "off": no fsync, and nothing here needs to survive a power cut."""
    yield from sqlite_store(tmp_path, "off")
