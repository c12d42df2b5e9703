"""The router's state in SQLite: by default in the same file as the event store.

One class serves the three ports on one file. Tables (all prefixed ``router_``):
checkpoints per subscription (:class:`Checkpoints`), applied versions per (subscription,
stream) for targets that do not keep their own (:class:`AppliedVersions`), parked streams
and the events waiting on them (:class:`ParkingLot`). Safe to share between threads (one
connection per thread) and processes (SQLite's file locking; writes use ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from eventfold.adapters.sqlite.plumbing import (
    EVENT_COLUMNS,
    Durability,
    SqliteFile,
    WriteGate,
    rows_to_events,
)
from eventfold.core.router.ports import BEGINNING, ParkedStream
from eventfold.domain.events import RecordedEvent
from eventfold.errors import StoreError, StoreUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS router_checkpoints (
    subscription TEXT PRIMARY KEY,
    checkpoint   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS router_versions (
    subscription TEXT    NOT NULL,
    stream_id    TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    PRIMARY KEY (subscription, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS router_parked (
    subscription TEXT NOT NULL,
    stream_id    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    parked_at    TEXT NOT NULL,
    PRIMARY KEY (subscription, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS router_parked_events (
    subscription TEXT    NOT NULL,
    stream_id    TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    type         TEXT    NOT NULL,
    schema       INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    metadata     TEXT    NOT NULL,
    recorded_at  TEXT    NOT NULL,
    position     INTEGER,
    PRIMARY KEY (subscription, stream_id, version)
) WITHOUT ROWID;
"""

_CHUNK = 500  # stay far below SQLite's limit on bound variables


def _now() -> str:
    return datetime.now(UTC).isoformat()


class SqliteRouterState(SqliteFile):
    """The Checkpoints, AppliedVersions and ParkingLot ports on a SQLite file."""

    def __init__(
        self,
        path: Path | str,
        *,
        durability: Durability = "full",
        write_gate: WriteGate | None = None,
    ) -> None:
        super().__init__(path, durability=durability, write_gate=write_gate)
        with self._write() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction, queued on the write gate."""
        with self.write_gate:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"router state busy: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"router state write failed: {exc}") from exc
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"router state write failed: {exc}") from exc
                raise

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, subscription: str) -> str:
        row = (
            self._conn()
            .execute(
                "SELECT checkpoint FROM router_checkpoints WHERE subscription = ?", (subscription,)
            )
            .fetchone()
        )
        return BEGINNING if row is None else str(row[0])

    def advance(self, subscription: str, expected: str, checkpoint: str) -> bool:
        with self._write() as conn:
            row = conn.execute(
                "SELECT checkpoint FROM router_checkpoints WHERE subscription = ?",
                (subscription,),
            ).fetchone()
            current = BEGINNING if row is None else str(row[0])
            if current != expected:
                return False
            self._set(conn, subscription, checkpoint)
            return True

    def reset(self, subscription: str, checkpoint: str) -> None:
        with self._write() as conn:
            self._set(conn, subscription, checkpoint)

    @staticmethod
    def _set(conn: sqlite3.Connection, subscription: str, checkpoint: str) -> None:
        conn.execute(
            "INSERT INTO router_checkpoints VALUES (?, ?, ?) ON CONFLICT (subscription) "
            "DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
            (subscription, checkpoint, _now()),
        )

    def subscriptions(self) -> dict[str, str]:
        """Every subscription with a checkpoint, and that checkpoint (for operators)."""
        rows = self._conn().execute("SELECT subscription, checkpoint FROM router_checkpoints")
        return {str(s): str(c) for s, c in rows}

    # -- applied versions ------------------------------------------------------------------
    def applied_versions(self, subscription: str, stream_ids: Collection[str]) -> dict[str, int]:
        ids = list(stream_ids)
        found: dict[str, int] = {}
        conn = self._conn()
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(part))
            rows = conn.execute(
                "SELECT stream_id, version FROM router_versions "
                f"WHERE subscription = ? AND stream_id IN ({marks})",
                (subscription, *part),
            )
            found.update((str(s), int(v)) for s, v in rows)
        return found

    def record_applied(self, subscription: str, versions: Mapping[str, int]) -> None:
        if not versions:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO router_versions VALUES (?, ?, ?) "
                "ON CONFLICT (subscription, stream_id) "
                "DO UPDATE SET version = max(version, excluded.version)",
                [(subscription, s, v) for s, v in versions.items()],
            )

    # -- parking lot -----------------------------------------------------------------------
    def park(
        self, subscription: str, stream_id: str, events: Sequence[RecordedEvent], reason: str
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO router_parked VALUES (?, ?, ?, ?) "
                "ON CONFLICT (subscription, stream_id) DO NOTHING",
                (subscription, stream_id, reason, _now()),
            )
            conn.executemany(
                "INSERT INTO router_parked_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [
                    (
                        subscription,
                        e.stream_id,
                        e.version,
                        e.type,
                        e.schema,
                        e.data,
                        json.dumps(dict(e.metadata)),
                        e.recorded_at.isoformat(),
                        e.position,
                    )
                    for e in events
                ],
            )

    def parked_streams(self, subscription: str) -> set[str]:
        rows = self._conn().execute(
            "SELECT stream_id FROM router_parked WHERE subscription = ?", (subscription,)
        )
        return {str(r[0]) for r in rows}

    def list_parked(self, subscription: str | None = None) -> list[ParkedStream]:
        rows = self._conn().execute(
            "SELECT p.subscription, p.stream_id, p.reason, p.parked_at, "
            "min(e.version), max(e.version), count(e.version) "
            "FROM router_parked p LEFT JOIN router_parked_events e "
            "ON e.subscription = p.subscription AND e.stream_id = p.stream_id "
            "WHERE ? IS NULL OR p.subscription = ? "
            "GROUP BY p.subscription, p.stream_id ORDER BY p.parked_at, p.stream_id",
            (subscription, subscription),
        )
        return [
            ParkedStream(
                subscription=str(sub),
                stream_id=str(stream),
                reason=str(reason),
                parked_at=datetime.fromisoformat(str(at)),
                first_version=int(first or 0),
                last_version=int(last or 0),
                count=int(count),
            )
            for sub, stream, reason, at, first, last, count in rows
        ]

    def parked_events(self, subscription: str, stream_id: str) -> list[RecordedEvent]:
        rows = self._conn().execute(
            f"SELECT {EVENT_COLUMNS} FROM router_parked_events "
            "WHERE subscription = ? AND stream_id = ? ORDER BY version",
            (subscription, stream_id),
        )
        return rows_to_events(rows.fetchall())

    def unpark(self, subscription: str, stream_id: str, through_version: int) -> bool:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM router_parked_events "
                "WHERE subscription = ? AND stream_id = ? AND version <= ?",
                (subscription, stream_id, through_version),
            )
            left = conn.execute(
                "SELECT count(*) FROM router_parked_events "
                "WHERE subscription = ? AND stream_id = ?",
                (subscription, stream_id),
            ).fetchone()[0]
            if left:
                return False
            conn.execute(
                "DELETE FROM router_parked WHERE subscription = ? AND stream_id = ?",
                (subscription, stream_id),
            )
            return True
