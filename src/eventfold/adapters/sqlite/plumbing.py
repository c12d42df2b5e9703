"""What every SQLite adapter shares: opening a file with eventfold's pragmas (WAL, the
durability asked for, a busy timeout), one connection per thread, the write gate all writers
of one file queue on (in this process and in others), and the event row format that the
event store's ``events`` table and the router's parked events share.

Used by the event store, the router state and the SQL query model's SQLite engine
(``eventfold.adapters.sql.engine``); none of them imports another for these.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol

from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError

Durability = Literal["full", "normal", "off"]


class WriteGate(Protocol):
    """What writers of one SQLite file hold while they write: a re-entrant lock (a
    ``threading.RLock``, or the :class:`FileWriteGate` every writer of a file shares)."""

    def __enter__(self) -> object: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> object: ...


class FileWriteGate:
    """Serialises every writer of one SQLite file, in this process and in others.

    SQLite lets one writer in at a time; a writer that finds the file locked sleeps in
    steps of 1, 2, 5 … 100 ms (its busy handler) before trying again, which turns a 1 ms
    wait into tens of milliseconds (measured: two processes on one file, p99 over 1 s).
    Writers queue here instead: threads of this process on a lock (re-entrant for its
    holder), processes on an exclusive ``flock`` of ``<file>.lock``, which the kernel hands
    to the next waiter the moment it is released (and releases by itself when a holder
    dies, even by kill -9). They take SQLite's own write lock only once it is free. A
    thread that must not block (an event loop's) enters with :meth:`try_enter`, and has a
    helper thread wait for it with :meth:`enter_for` when that fails.

    One gate per file and process (:meth:`for_file`): a second ``flock`` of the same file
    from this process would wait for the first, so a thread nesting two writers of one
    file would wait for itself."""

    _opened: ClassVar[weakref.WeakValueDictionary[Path, FileWriteGate]] = (
        weakref.WeakValueDictionary()
    )
    _opening: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        # A plain lock with its holder and depth kept here (not an RLock): the gate can be
        # taken by one thread on behalf of another (:meth:`enter_for`).
        self._lock = threading.Lock()
        self._depth = 0
        self._owner: int | None = None
        self._before_reentry: Callable[[], None] | None = None
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._finalizer = weakref.finalize(self, os.close, self._fd)

    @classmethod
    def for_file(cls, database: Path | str) -> FileWriteGate:
        """The gate of the SQLite file ``database`` in this process."""
        path = Path(database).resolve()
        with cls._opening:
            gate = cls._opened.get(path)
            if gate is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                gate = cls._opened[path] = cls(path.with_name(path.name + ".lock"))
            return gate

    def __enter__(self) -> FileWriteGate:
        me = threading.get_ident()
        if self._owner == me:
            before = self._before_reentry
            if before is not None:
                before()  # the holder's own writer comes back: let it finish what it keeps open
            if self._owner == me:  # still held, by an outer block
                self._depth += 1
                return self
        # This process's lock in short waits: a helper may take the gate for this very
        # thread meanwhile (enter_for), and would then hold the lock on its behalf.
        while not self._lock.acquire(timeout=0.05):
            if self._owner == me:
                self._depth += 1
                return self
        self._take_file(me, fcntl.LOCK_EX)
        return self

    def held_here(self) -> bool:
        """Whether the calling thread holds the gate."""
        return self._owner == threading.get_ident()

    def try_enter(self) -> bool:
        """Enter the gate if that needs no wait (True), else leave it (False). A thread
        that holds it enters again, without :meth:`keep`'s ``before_reentry``: the caller
        only wants the gate held while it decides whether it will write."""
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return True
        return self._lock.acquire(blocking=False) and self._take_file(
            me, fcntl.LOCK_EX | fcntl.LOCK_NB
        )

    def enter_for(self, owner: int) -> None:
        """Wait for the gate and enter it on behalf of the thread ``owner`` (an event
        loop's, which must not block), which must not hold it already: ``owner`` then
        holds it as if it had entered, and leaves it with ``__exit__``."""
        self._lock.acquire()
        self._take_file(owner, fcntl.LOCK_EX)

    def _take_file(self, owner: int, how: int) -> bool:
        """With this process's lock held: the file's lock (``how``: ``flock``'s operation),
        and the gate is ``owner``'s. False, this process's lock given back, when
        ``LOCK_NB`` finds the file's taken."""
        try:
            fcntl.flock(self._fd, how)
        except BaseException as exc:
            self._lock.release()
            if isinstance(exc, BlockingIOError):
                return False
            raise
        self._depth = 1  # before the owner: once it sees itself named, it may enter again
        self._owner = owner
        return True

    def keep(self, before_reentry: Callable[[], None] | None) -> None:
        """The holding thread keeps the gate beyond its block (an open transaction): when
        that thread enters the gate again, ``before_reentry`` runs first (it ends the
        transaction and leaves the gate), so another writer of the thread never finds the
        file locked by its own thread. None clears it, as leaving the gate for good does."""
        self._before_reentry = before_reentry

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._before_reentry = None
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()


def connect(path: Path | str, durability: Durability = "full") -> sqlite3.Connection:
    """A connection with eventfold's pragmas: WAL, the durability asked for, a busy timeout.

    ``full`` (the default) fsyncs the WAL on every commit: a committed command survives a
    power cut. ``normal`` may lose the last commits on power loss (never on a crash).
    """
    if durability not in ("full", "normal", "off"):
        raise ConfigurationError(
            f"durability {durability!r} is not one of full, normal, off (EVENTFOLD_DURABILITY)"
        )
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    use_wal(conn)
    conn.execute(f"PRAGMA synchronous={durability.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def use_wal(conn: sqlite3.Connection, wait_seconds: float = 30) -> None:
    """Put the file in WAL mode, waiting while other connections open it at the same time.

    Switching a new file to WAL needs its exclusive lock, and SQLite does not call the busy
    handler for that lock (it could deadlock), so connections opening a new file together
    would fail with "database is locked"; this retries instead.
    """
    deadline = time.monotonic() + wait_seconds
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class ThreadConnections:
    """One connection per thread to one SQLite file (sqlite3 connections must not be used
    by two threads at once), all closed together."""

    def __init__(self, path: Path, durability: Durability) -> None:
        self.path = path
        self.durability: Durability = durability
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.durability)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()


class WalSync:
    """Puts the commits in one database's WAL on disk: ``fdatasync`` of the ``-wal`` file.

    A commit at ``synchronous=NORMAL`` is written to the WAL without a sync; :meth:`sync`
    makes it durable afterwards, outside the write lock. Frames are only ever overwritten
    after a checkpoint has copied them into the database file and synced it, and the WAL is
    only deleted after such a checkpoint: no WAL, nothing left to sync.

    ``fdatasync``, as SQLite's own commit syncs its WAL on Linux: the file's length is
    synced with its data, its times are not. The WAL's descriptor is opened once and kept:
    SQLite deletes the WAL only when the last connection to the database closes, and the
    owner calls :meth:`sync` only after committing on a connection it holds open (it calls
    :meth:`close` when it closes its connections). Measured: 1 writer, one commit per
    command (``bench/write_path.py``), an open, an ``fsync`` and a close per commit cost
    about a tenth more per command than this."""

    def __init__(self, database: Path) -> None:
        self.path = f"{database}-wal"
        self._fd: int | None = None
        self._lock = threading.Lock()

    def sync(self) -> None:
        fd = self._fd
        if fd is None:
            with self._lock:
                if self._fd is None:
                    try:
                        self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                    except FileNotFoundError:
                        return
                fd = self._fd
        os.fdatasync(fd)

    def close(self) -> None:
        """Close the descriptor; the next :meth:`sync` opens the WAL again."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class SqliteFile:
    """What an adapter on one SQLite file starts from: the file (its folder made), the
    durability of its connections, the write gate its writers queue on (by default the
    file's :class:`FileWriteGate`) and one connection per thread (:meth:`_conn`).
    ``connection_durability``: the connections' own ``synchronous``, when the adapter
    makes its commits durable itself (default: ``durability``)."""

    def __init__(
        self,
        path: Path | str,
        *,
        durability: Durability = "full",
        write_gate: WriteGate | None = None,
        connection_durability: Durability | None = None,
    ) -> None:
        self.path = Path(path)
        self.durability: Durability = durability
        self.write_gate: WriteGate = write_gate or FileWriteGate.for_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = ThreadConnections(self.path, connection_durability or durability)

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def close(self) -> None:
        self._connections.close()


EVENT_COLUMNS = "stream_id, version, type, data, schema, metadata, recorded_at, position"


def rows_to_events(rows: list[Any]) -> list[RecordedEvent]:
    """Rows of ``EVENT_COLUMNS`` as events. The events of one commit share their metadata
    text and time: each distinct one is parsed once (the parsed mappings are read-only)."""
    metadata: dict[str, Any] = {}
    times: dict[str, datetime] = {}
    events = []
    for stream_id, version, type_, data, schema, meta, recorded_at, position in rows:
        parsed = metadata.get(meta)
        if parsed is None:
            parsed = metadata[meta] = json.loads(meta)
        moment = times.get(recorded_at)
        if moment is None:
            moment = times[recorded_at] = datetime.fromisoformat(recorded_at)
        events.append(
            RecordedEvent(stream_id, version, type_, data, schema, parsed, moment, position)
        )
    return events
