"""The router's three ports on one SQLite file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventfold.adapters.sqlite.router_state import SqliteRouterState
from tests.contracts.applied_versions import AppliedVersionsContract
from tests.contracts.checkpoints import CheckpointsContract
from tests.contracts.parking_lot import ParkingLotContract, recorded


@pytest.fixture
def router_state(tmp_path: Path) -> Iterator[SqliteRouterState]:
    state = SqliteRouterState(tmp_path / "state.db", durability="off")
    yield state
    state.close()


class TestSqliteCheckpoints(CheckpointsContract):
    @pytest.fixture
    def checkpoints(self, router_state: SqliteRouterState) -> SqliteRouterState:
        return router_state


class TestSqliteAppliedVersions(AppliedVersionsContract):
    @pytest.fixture
    def versions(self, router_state: SqliteRouterState) -> SqliteRouterState:
        return router_state


class TestSqliteParkingLot(ParkingLotContract):
    @pytest.fixture
    def parking(self, router_state: SqliteRouterState) -> SqliteRouterState:
        return router_state


def test_a_file_written_before_the_ports_were_split_still_loads(tmp_path: Path) -> None:
    """The tables are those of the one RouterState port: rows written then are read now."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE router_checkpoints (subscription TEXT PRIMARY KEY,
                checkpoint TEXT NOT NULL, updated_at TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE router_versions (subscription TEXT NOT NULL, stream_id TEXT NOT NULL,
                version INTEGER NOT NULL, PRIMARY KEY (subscription, stream_id)) WITHOUT ROWID;
            CREATE TABLE router_parked (subscription TEXT NOT NULL, stream_id TEXT NOT NULL,
                reason TEXT NOT NULL, parked_at TEXT NOT NULL,
                PRIMARY KEY (subscription, stream_id)) WITHOUT ROWID;
            CREATE TABLE router_parked_events (subscription TEXT NOT NULL,
                stream_id TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
                schema INTEGER NOT NULL, data BLOB NOT NULL, metadata TEXT NOT NULL,
                recorded_at TEXT NOT NULL, position INTEGER,
                PRIMARY KEY (subscription, stream_id, version)) WITHOUT ROWID;
            INSERT INTO router_checkpoints VALUES ('rows', '42', '2024-01-02T03:04:05+00:00');
            INSERT INTO router_versions VALUES ('rows', 'a-1', 7);
            INSERT INTO router_parked VALUES ('rows', 'a-1', 'boom', '2024-01-02T03:04:05+00:00');
            INSERT INTO router_parked_events VALUES ('rows', 'a-1', 2, 'Happened', 2,
                X'7B2276223A327D', '{"k": "v"}', '2024-01-02T03:04:05+00:00', 20);
            """
        )
    conn.close()
    state = SqliteRouterState(path, durability="off")
    try:
        assert state.checkpoint("rows") == "42"
        assert state.applied_versions("rows", ["a-1"]) == {"a-1": 7}
        assert state.parked_streams("rows") == {"a-1"}
        assert state.parked_events("rows", "a-1") == [recorded("a-1", 2)]
    finally:
        state.close()
