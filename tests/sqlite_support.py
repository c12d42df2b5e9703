"""The SQLite event store the test fixtures open (one file in the test's folder), and a
record of the fsyncs of its WAL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.plumbing import Durability


def sqlite_store(folder: Path, durability: Durability) -> Iterator[SqliteEventStore]:
    """For a fixture to ``yield from``: a store on ``folder``/events.db, closed after the
    test. Callers name the durability: the test folders do not all use the same one."""
    store = SqliteEventStore(folder / "events.db", durability=durability)
    yield store
    store.close()


needs_proc_fds = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="names file descriptors through /proc"
)


def wal_syncs(
    monkeypatch: pytest.MonkeyPatch, gate_held: Callable[[], bool] = lambda: False
) -> list[bool]:
    """Each ``fdatasync`` of a ``-wal`` file from now on, as whether ``gate_held()`` said
    the write gate was held at that moment (use with :data:`needs_proc_fds`)."""
    syncs: list[bool] = []
    real_fdatasync = os.fdatasync

    def fdatasync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("-wal"):
            syncs.append(gate_held())
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return syncs


def committed(path: Path) -> list[tuple[str, int]]:
    """The events another connection sees: what is committed."""
    with contextlib.closing(sqlite3.connect(path)) as other:
        rows = other.execute("SELECT stream_id, version FROM events ORDER BY position")
        return [(str(s), int(v)) for s, v in rows]


HOLD_THE_GATE = """
import sys
from eventfold.adapters.sqlite.plumbing import FileWriteGate
with FileWriteGate.for_file(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def gate_holder(database: Path) -> subprocess.Popen[str]:
    """Another process holding the file's write gate until it reads a line (or dies)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_GATE, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder
