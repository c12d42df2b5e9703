"""The SQLite event store the test fixtures open: one file in the test's folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.plumbing import Durability


def sqlite_store(folder: Path, durability: Durability) -> Iterator[SqliteEventStore]:
    """For a fixture to ``yield from``: a store on ``folder``/events.db, closed after the
    test. Callers name the durability: the test folders do not all use the same one."""
    store = SqliteEventStore(folder / "events.db", durability=durability)
    yield store
    store.close()
