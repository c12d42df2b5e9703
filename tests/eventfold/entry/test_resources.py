"""Where the embedded read side lives: its own SQLite file, except in an older home."""

from __future__ import annotations

from pathlib import Path

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.entry.context_reads import query_engine
from eventfold.entry.read_side import read_side_database
from eventfold.entry.service import ServiceContext


def test_a_new_home_keeps_the_read_side_beside_the_event_store(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "eventfold.db")
    try:
        assert read_side_database(store) == tmp_path / "eventfold-query.db"
        engine = query_engine(ServiceContext(store))
        assert engine.url.database == str(tmp_path / "eventfold-query.db")
        engine.dispose()
    finally:
        store.close()


def test_a_home_made_before_the_split_keeps_one_file(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "eventfold.db")
    SqliteRouterState(store.path).close()  # what an older `eventfold run` left in the file
    try:
        assert read_side_database(store) == store.path
        assert not (tmp_path / "eventfold-query.db").exists()
    finally:
        store.close()
