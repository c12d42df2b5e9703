"""The embedded event store: one SQLite file in WAL mode.

Tables: ``events`` (global ``position`` + unique ``(stream_id, version)``), ``states`` (one
snapshot row per stream, the optimistic lock) and ``commands`` (one row per command id, for
idempotent retries). An append writes all three in one ``BEGIN IMMEDIATE`` transaction;
appends that queued behind it on the write gate share that transaction (group commit: one
fsync), each in its own savepoint, so one append's conflict never undoes another's.
SQLite has a single writer, so positions are handed out in commit order: a feed tailing by
position never sees a lower position commit after a higher one.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from eventfold.adapters.sqlite.plumbing import (
    EVENT_COLUMNS,
    Durability,
    FileWriteGate,
    SqliteFile,
    WalSync,
    WriteGate,
    rows_to_events,
)
from eventfold.core.ports import Commit, Snapshot, StreamWrite
from eventfold.domain.events import RecordedEvent
from eventfold.errors import (
    ConcurrencyConflict,
    StoreError,
    StoreUnavailable,
)

_Executor = sqlite3.Connection | sqlite3.Cursor
"""What runs the statements of an append: the group's cursor (or a connection)."""
CommitListener = Callable[[], None]
"""Called (with no arguments) after every successful append, in the appending thread."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT    NOT NULL,
    schema      INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    metadata    TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS states (
    stream_id TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    state     BLOB    NOT NULL,
    fold      TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    command_id  TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    versions    TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) WITHOUT ROWID;
"""

_INSERT_EVENT = (
    "INSERT INTO events (stream_id, version, type, schema, data, metadata, recorded_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class _UtcClock:
    """The time now as ISO 8601 text in UTC, with microseconds.

    ``datetime.isoformat`` costs more than a whole INSERT; here the date and time of day
    are formatted once per second and only the microseconds per call."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads swap it atomically

    def __call__(self) -> str:
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        known = self._second
        if known[0] != second:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            known = self._second = (second, text)
        return f"{known[1]}.{micros:06d}+00:00"


_now = _UtcClock()


class _Append:
    """One append waiting for (or done by) a group commit."""

    __slots__ = ("command_id", "done", "earlier", "error", "fingerprint", "writes")

    def __init__(
        self, writes: tuple[StreamWrite, ...], command_id: str | None, fingerprint: str
    ) -> None:
        self.writes = writes
        self.command_id = command_id
        self.fingerprint = fingerprint
        self.earlier: Commit | None = None
        self.error: BaseException | None = None
        self.done = False


class _ThreadWrites(threading.local):
    """What one thread's appends carry between calls: its :class:`DeferredSync` block, and
    its shared transaction (see :meth:`SqliteEventStore.deferred_sync`)."""

    def __init__(self) -> None:
        self.sync: DeferredSync | None = None
        self.open = False  # a shared transaction is open (and the write gate kept)
        self.appended = False  # ... and holds appends, whose listeners run after its commit
        # Why its last shared transaction was lost, when another writer of the thread ended
        # it and heard the failure: the appends' make_durable must fail too.
        self.lost: BaseException | None = None


@dataclass(slots=True)
class DeferredSync:
    """What :meth:`SqliteEventStore.deferred_sync` tells its caller: ``needed`` once an
    append in its block was made without its commit's fsync (or, in a shared transaction,
    without its commit: see :meth:`SqliteEventStore.deferred_sync`)."""

    needed: bool = False
    shared: bool = False


def _versions(writes: tuple[StreamWrite, ...]) -> dict[str, int]:
    return {w.stream_id: w.expected_version + len(w.events) for w in writes}


def _metadata_text(metadata: Mapping[str, str]) -> str:
    try:
        return _metadata_json(tuple(metadata.items()))
    except TypeError:  # a value that cannot be a cache key (loosely typed caller)
        return json.dumps(dict(metadata))


@functools.lru_cache(maxsize=256)
def _metadata_json(items: tuple[tuple[str, str], ...]) -> str:
    # Commands without a command id all carry the same metadata: encode it once.
    return json.dumps(dict(items))


def _store_error(exc: BaseException) -> BaseException:
    """The error tree's version of what a write raised."""
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"event store write failed: {exc}")
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"event store write failed: {exc}")
    return exc


def _raise_store_error(exc: BaseException) -> NoReturn:
    """Raise ``exc`` as the error tree has it (:func:`_store_error`), from ``exc``."""
    mapped = _store_error(exc)
    if mapped is exc:
        raise exc
    raise mapped from exc


class SqliteEventStore(SqliteFile):
    """The EventStore port on one SQLite file. Safe to share between threads: each thread
    gets its own connection."""

    def __init__(
        self,
        path: Path | str,
        *,
        durability: Durability = "full",
        write_gate: WriteGate | None = None,
    ) -> None:
        # "full": the commit itself skips the sync (synchronous=NORMAL) and append syncs
        # the WAL (WalSync) once the write gate is released, before it returns. The fsync then no
        # longer holds every other writer of the file: measured 1.10-1.14x commands/s and
        # p99 68 -> 51 ms (bench/pipeline.py, four alternating pairs). An appended commit
        # is still on disk before its caller hears of it; readers of the file may see it
        # up to one fsync earlier (SqliteFeed syncs before it hands events on).
        super().__init__(
            path,
            durability=durability,
            write_gate=write_gate,
            connection_durability="normal" if durability == "full" else durability,
        )
        self._wal = WalSync(self.path)
        self._listeners: list[CommitListener] = []
        self._deferring = _ThreadWrites()
        self._queue: list[_Append] = []
        self._queue_lock = threading.Lock()
        self._conn().executescript(SCHEMA)

    def close(self) -> None:
        super().close()
        self._wal.close()

    # -- commit listeners (connections: SqliteFile) ------------------------------------
    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    # -- the port ----------------------------------------------------------------------
    def append(
        self, *writes: StreamWrite, command_id: str | None = None, fingerprint: str = ""
    ) -> Commit:
        if not writes:
            raise ValueError("append needs at least one stream write")
        request = _Append(writes, command_id, fingerprint)
        deferred = self._deferring.sync
        if deferred is not None and deferred.shared and isinstance(self.write_gate, FileWriteGate):
            return self._append_shared(request, deferred)
        with self._queue_lock:
            self._queue.append(request)
        with self.write_gate:
            # Group commit: whoever holds the gate commits every append queued meanwhile in
            # one transaction, each in its own savepoint.
            if not request.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit_group(self._conn(), group)
        if request.error is not None:
            raise request.error
        if deferred is None:
            self.make_durable()
        elif self.durability == "full":
            deferred.needed = True
        if request.earlier is not None:
            # A duplicate: the earlier commit, whose fingerprint the handler compares.
            earlier = request.earlier
            return Commit(command_id, earlier.versions, True, earlier.fingerprint)
        for listener in self._listeners:
            listener()
        return Commit(command_id, _versions(writes), False, fingerprint)

    def make_durable(self) -> None:
        """Commit this thread's shared transaction, if it has one open (see
        :meth:`deferred_sync`), then put every commit visible now on disk (with
        durability "full"; else nothing). Fails when this thread's shared transaction was
        lost (its commit failed), also if another writer of the thread had ended it."""
        self.commit_deferred()
        if self.durability == "full":
            self._wal.sync()

    def commit_deferred(self) -> None:
        """Commit this thread's shared transaction, if it has one open, without the fsync
        :meth:`make_durable` adds: the caller still owes its commits one (another
        :meth:`make_durable`, or a :class:`~eventfold.adapters.sqlite.wal_helper.WalSyncHelper`
        request) before anyone hears of them. Fails as :meth:`make_durable` does."""
        state = self._deferring
        try:
            self._commit_shared()
        finally:
            lost, state.lost = state.lost, None
        if lost is not None:
            raise lost

    @contextmanager
    def deferred_sync(self, *, shared: bool = False) -> Iterator[DeferredSync]:
        """Appends made by this thread inside the block return before their fsync.

        The caller then owes them one: when the block's :class:`DeferredSync` says
        ``needed``, it calls :meth:`make_durable` (or shares one call with other such
        blocks, or commits with :meth:`commit_deferred` and has the fsync run elsewhere,
        as the HTTP entry point's command runner does) before anyone hears of the commits.
        Nests; other threads' appends are not affected.

        ``shared``: the appends also leave their transaction open, and the next ones made
        by this thread (in this block or another shared one) join it, each in its own
        savepoint, until :meth:`make_durable` (or :meth:`commit_deferred`) commits them all
        at once. Every commit writes
        whole pages to the WAL, and the appends of one turn of an event loop touch mostly
        the same pages (measured: 34 KiB and 15 write calls per append alone, 9 KiB and 4
        in tens). The thread holds the write gate, so other writers of the file wait,
        until that call: it must come soon, from this thread, and before anyone hears of
        the appends. A conflict undoes only its own append.

        A thread that must not wait for the gate with a blocking call (an event loop's)
        enters it first, without blocking (:meth:`FileWriteGate.try_enter`, or
        :meth:`FileWriteGate.enter_for` from a helper thread), as
        :class:`~eventfold.entry.http.runners.InlineCommands` does; the block's appends
        then find it held. Only with the file's own :class:`FileWriteGate` (the default),
        which ends the transaction when its holding thread writes the file again; with
        another gate, ``shared`` is ignored."""
        deferred = DeferredSync(shared=shared)
        outer = self._deferring.sync
        self._deferring.sync = deferred
        try:
            yield deferred
        finally:
            self._deferring.sync = outer
            if outer is not None and deferred.needed:
                outer.needed = True

    def _append_shared(self, request: _Append, deferred: DeferredSync) -> Commit:
        """``request`` in this thread's shared transaction (opened by the first one)."""
        conn = self._conn()
        gate = self.write_gate
        assert isinstance(gate, FileWriteGate)
        state = self._deferring
        if not state.open:
            gate.__enter__()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except BaseException as exc:
                gate.__exit__(None, None, None)
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"event store busy: {exc}") from exc
                raise
            state.open = True
            gate.keep(self._commit_shared)
        deferred.needed = True  # from here on the transaction must be ended by make_durable
        cur = conn.cursor()
        cur.execute("SAVEPOINT one_append")
        try:
            self._write_append(cur, request, _now())
        except BaseException as exc:
            cur.execute("ROLLBACK TO one_append")
            cur.execute("RELEASE one_append")
            _raise_store_error(exc)
        cur.execute("RELEASE one_append")
        if request.earlier is not None:
            earlier = request.earlier
            return Commit(request.command_id, earlier.versions, True, earlier.fingerprint)
        state.appended = True
        return Commit(request.command_id, _versions(request.writes), False, request.fingerprint)

    def _commit_shared(self) -> None:
        """Commit this thread's shared transaction, if it has one open, and let the other
        writers in."""
        state = self._deferring
        if not state.open:
            return
        conn = self._conn()
        gate = self.write_gate
        assert isinstance(gate, FileWriteGate)
        appended = state.appended
        state.open = state.appended = False
        gate.keep(None)
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if appended:
                state.lost = _store_error(exc)
            _raise_store_error(exc)
        finally:
            gate.__exit__(None, None, None)
        if appended:
            for listener in self._listeners:
                listener()

    def _commit_group(self, conn: sqlite3.Connection, group: list[_Append]) -> None:
        now = _now()
        alone = len(group) == 1
        cur = conn.cursor()  # one cursor for the whole group: conn.execute makes one a call
        try:
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"event store busy: {exc}") from exc
            for request in group:
                if not alone:
                    cur.execute("SAVEPOINT one_append")
                try:
                    self._write_append(cur, request, now)
                except (ConcurrencyConflict, sqlite3.IntegrityError) as exc:
                    if alone:
                        raise
                    cur.execute("ROLLBACK TO one_append")
                    request.error = _store_error(exc)
                if not alone:
                    cur.execute("RELEASE one_append")
            cur.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = _store_error(exc)
            for request in group:
                request.error = error
                request.earlier = None
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt and the like: the queued appends fail with it
        finally:
            for request in group:
                request.done = True

    def _write_append(self, conn: _Executor, request: _Append, now: str) -> None:
        if request.command_id is not None:
            earlier = self._commit_row(conn, request.command_id)
            if earlier is not None:
                request.earlier = earlier
                return
        for write in request.writes:
            self._write_stream(conn, write, now)
        if request.command_id is not None:
            conn.execute(
                "INSERT INTO commands VALUES (?, ?, ?, ?)",
                (
                    request.command_id,
                    request.fingerprint,
                    json.dumps(_versions(request.writes)),
                    now,
                ),
            )

    def _write_stream(self, conn: _Executor, write: StreamWrite, now: str) -> None:
        if write.expected_version == 0:
            cursor = conn.execute(
                "INSERT INTO states VALUES (?, ?, ?, ?) ON CONFLICT (stream_id) DO NOTHING",
                (write.stream_id, write.new_version, write.state, write.fold),
            )
        else:
            cursor = conn.execute(
                "UPDATE states SET version = ?, state = ?, fold = ? "
                "WHERE stream_id = ? AND version = ?",
                (
                    write.new_version,
                    write.state,
                    write.fold,
                    write.stream_id,
                    write.expected_version,
                ),
            )
        if cursor.rowcount != 1:
            row = conn.execute(
                "SELECT version FROM states WHERE stream_id = ?", (write.stream_id,)
            ).fetchone()
            raise ConcurrencyConflict(
                write.stream_id, write.expected_version, int(row[0]) if row else 0
            )
        events = write.events
        if len(events) == 1:
            e = events[0]
            conn.execute(
                _INSERT_EVENT,
                (
                    write.stream_id,
                    write.expected_version + 1,
                    e.type,
                    e.schema,
                    e.data,
                    _metadata_text(e.metadata),
                    now,
                ),
            )
            return
        texts: dict[int, str] = {}  # the events of one command share their metadata
        rows = []
        for i, e in enumerate(events, start=1):
            text = texts.get(id(e.metadata))
            if text is None:
                text = texts[id(e.metadata)] = _metadata_text(e.metadata)
            rows.append(
                (write.stream_id, write.expected_version + i, e.type, e.schema, e.data, text, now)
            )
        conn.executemany(_INSERT_EVENT, rows)

    @staticmethod
    def _commit_row(conn: _Executor, command_id: str) -> Commit | None:
        row = conn.execute(
            "SELECT fingerprint, versions FROM commands WHERE command_id = ?", (command_id,)
        ).fetchone()
        if row is None:
            return None
        return Commit(command_id, json.loads(row[1]), True, row[0])

    def load(self, stream_id: str) -> Snapshot | None:
        row = (
            self._conn()
            .execute("SELECT version, state, fold FROM states WHERE stream_id = ?", (stream_id,))
            .fetchone()
        )
        return None if row is None else Snapshot(int(row[0]), bytes(row[1]), str(row[2]))

    def read(
        self, stream_id: str, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version > ? "
                "ORDER BY version LIMIT ?",
                (stream_id, after_version, -1 if limit is None else limit),
            )
            .fetchall()
        )
        return rows_to_events(rows)

    def find_commit(self, command_id: str) -> Commit | None:
        return self._commit_row(self._conn(), command_id)

    def scan(self) -> Iterator[RecordedEvent]:
        after = 0
        while True:
            batch = self.read_all(after, 5000)
            if not batch:
                return
            yield from batch
            after = batch[-1].position or after

    def stream_versions(self) -> Iterator[tuple[str, int]]:
        after = ""
        while True:
            rows = (
                self._conn()
                .execute(
                    "SELECT stream_id, version FROM states WHERE stream_id > ? "
                    "ORDER BY stream_id LIMIT 5000",
                    (after,),
                )
                .fetchall()
            )
            if not rows:
                return
            yield from ((str(s), int(v)) for s, v in rows)
            after = rows[-1][0]

    # -- beyond the port: the global order the SQLite feed tails ----------------------------
    def read_all(self, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (after_position, limit),
            )
            .fetchall()
        )
        return rows_to_events(rows)

    def head_position(self) -> int:
        row = self._conn().execute("SELECT MAX(position) FROM events").fetchone()
        return int(row[0] or 0)
