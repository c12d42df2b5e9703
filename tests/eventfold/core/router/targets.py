"""Test targets that write to a real SQLite file, and helpers to fill an event store."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from eventfold import EventData, SqliteEventStore, StreamWrite
from eventfold.domain.events import RecordedEvent

Fault = Callable[[RecordedEvent], None]
"""Raises to make the target fail on an event."""


class SqliteTarget:
    """Appends one row per applied event; with ``tracks_versions`` it also keeps each
    stream's version in the SAME transaction (like the SQL projection)."""

    def __init__(self, path: Path, name: str = "rows", *, suffix: str = "") -> None:
        self.name = name
        self.path = path
        self.faults: list[Fault] = []
        self.calls = 0
        self.rows_table = f"rows{suffix}"
        self.versions_table = f"versions{suffix}"
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.executescript(
            f"CREATE TABLE IF NOT EXISTS {self.rows_table} (seq INTEGER PRIMARY KEY, "
            "stream_id TEXT, version INTEGER, type TEXT);"
            f"CREATE TABLE IF NOT EXISTS {self.versions_table} "
            "(stream_id TEXT PRIMARY KEY, version INTEGER);"
        )

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        with self._lock:
            self.calls += 1
            self._conn.execute("BEGIN")
            try:
                self._write(events)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _write(self, events: Sequence[RecordedEvent]) -> None:
        """Insert each event's row (after the faults had their say), in the open transaction."""
        for event in events:
            for fault in self.faults:
                fault(event)
            self._conn.execute(
                f"INSERT INTO {self.rows_table} (stream_id, version, type) VALUES (?, ?, ?)",
                (event.stream_id, event.version, event.type),
            )
            self._record(event)

    def _record(self, event: RecordedEvent) -> None:
        """Plain targets keep no versions."""

    def rows(self) -> list[tuple[str, int]]:
        with self._lock:
            found = self._conn.execute(
                f"SELECT stream_id, version FROM {self.rows_table} ORDER BY seq"
            )
            return [(str(s), int(v)) for s, v in found]

    def by_stream(self) -> dict[str, list[int]]:
        streams: dict[str, list[int]] = {}
        for stream_id, version in self.rows():
            streams.setdefault(stream_id, []).append(version)
        return streams


class TrackingSqliteTarget(SqliteTarget):
    def _record(self, event: RecordedEvent) -> None:
        self._conn.execute(
            f"INSERT INTO {self.versions_table} VALUES (?, ?) ON CONFLICT (stream_id) "
            "DO UPDATE SET version = excluded.version",
            (event.stream_id, event.version),
        )

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT stream_id, version FROM {self.versions_table}"
            ).fetchall()
        wanted = set(stream_ids)
        return {str(s): int(v) for s, v in rows if s in wanted}


class PlanningSqliteTarget(TrackingSqliteTarget):
    """Also lets the router plan inside its transaction (like the SQL projection)."""

    def __init__(self, path: Path, name: str = "rows", *, suffix: str = "") -> None:
        super().__init__(path, name, suffix=suffix)
        self.planned_calls = 0

    def apply_planned(
        self,
        stream_ids: Collection[str],
        plan: Callable[[Mapping[str, int]], Sequence[RecordedEvent]],
    ) -> None:
        with self._lock:
            self.planned_calls += 1
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                ids = list(stream_ids)
                marks = ",".join("?" * len(ids))
                rows = self._conn.execute(
                    f"SELECT stream_id, version FROM {self.versions_table} "
                    f"WHERE stream_id IN ({marks})",
                    ids,
                ).fetchall()
                events = plan({str(s): int(v) for s, v in rows})
                if events:
                    self.calls += 1
                self._write(events)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise


class RebuildableSqliteTarget(TrackingSqliteTarget):
    """Rebuilds into ``*_new`` tables of the same file and renames them over the live ones."""

    def begin_rebuild(self) -> ShadowTarget:
        for table in ("rows_new", "versions_new"):
            self._conn.execute(f"DROP TABLE IF EXISTS {table}")
        return ShadowTarget(self)


class ShadowTarget(TrackingSqliteTarget):
    def __init__(self, live: RebuildableSqliteTarget) -> None:
        super().__init__(live.path, live.name, suffix="_new")
        self.live = live

    def finish(self) -> None:
        with self.live._lock:
            conn = self.live._conn
            conn.execute("BEGIN IMMEDIATE")
            for table in ("rows", "versions"):
                conn.execute(f"DROP TABLE {table}")
                conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
            conn.execute("COMMIT")

    def abort(self) -> None:
        for table in ("rows_new", "versions_new"):
            self._conn.execute(f"DROP TABLE IF EXISTS {table}")


def fill(store: SqliteEventStore, streams: Mapping[str, int], kind: str = "Happened") -> None:
    """Append ``count`` events to each stream, one event per commit, round-robin."""
    top = max(streams.values(), default=0)
    for version in range(1, top + 1):
        for stream_id, count in streams.items():
            if version <= count:
                _append(store, stream_id, version, kind)


def fill_more(
    store: SqliteEventStore, stream_id: str, after: int, count: int, kind: str = "Happened"
) -> None:
    """Append ``count`` more events to a stream that is at version ``after``."""
    for version in range(after + 1, after + count + 1):
        _append(store, stream_id, version, kind)


def _append(store: SqliteEventStore, stream_id: str, version: int, kind: str) -> None:
    data = EventData(kind, b'{"v":%d}' % version)
    store.append(StreamWrite(stream_id, version - 1, [data], b"{}", "t/1"))
