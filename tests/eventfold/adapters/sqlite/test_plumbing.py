"""The shared SQLite plumbing: connections with eventfold's pragmas, and the write gate's
entries that never block the caller. (Writers queueing on the gate are tested with the
event store: test_event_store.py.)"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from eventfold import ConfigurationError
from eventfold.adapters.sqlite.plumbing import FileWriteGate, WalSync, connect
from tests.sqlite_support import gate_holder, needs_proc_fds, wal_syncs


@pytest.mark.parametrize(("durability", "expected"), [("full", 2), ("normal", 1), ("off", 0)])
def test_durability_sets_the_synchronous_pragma(
    tmp_path: Path, durability: str, expected: int
) -> None:
    conn = connect(tmp_path / "x.db", durability)  # type: ignore[arg-type]
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == expected
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_connections_opening_a_new_file_together_all_get_wal(tmp_path: Path) -> None:
    # Switching a new file to WAL needs a lock SQLite's busy handler does not wait for:
    # without connect's retry, about one file in ten fails here with "database is locked".
    errors: list[BaseException] = []

    def open_together(path: Path, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            conn = connect(path)
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            conn.close()
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    for n in range(40):
        barrier = threading.Barrier(4)
        threads = [
            threading.Thread(target=open_together, args=(tmp_path / f"{n}.db", barrier))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []


def test_an_unknown_durability_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="EVENTFOLD_DURABILITY"):
        connect(tmp_path / "x.db", "sometimes")  # type: ignore[arg-type]


def test_try_enter_takes_a_free_gate_and_never_waits_for_another_process(tmp_path: Path) -> None:
    database = tmp_path / "events.db"
    gate = FileWriteGate.for_file(database)
    holder = gate_holder(database)
    try:
        assert not gate.try_enter()  # at once, although another process holds the file
        assert not gate.held_here()
    finally:
        holder.communicate("go\n", timeout=30)
    assert gate.try_enter()
    assert gate.try_enter()  # the holder enters again
    assert gate.held_here()
    gate.__exit__(None, None, None)
    gate.__exit__(None, None, None)
    assert not gate.held_here()
    gate_holder(database).communicate("go\n", timeout=30)  # left: another process takes it


def test_a_thread_enters_the_gate_for_another_which_then_holds_it(tmp_path: Path) -> None:
    database = tmp_path / "events.db"
    gate = FileWriteGate.for_file(database)
    me = threading.get_ident()
    holder = gate_holder(database)
    try:
        helper = threading.Thread(target=gate.enter_for, args=(me,))
        helper.start()
        helper.join(timeout=0.3)
        assert helper.is_alive()  # the helper waits for the other process, this thread not
    finally:
        holder.communicate("go\n", timeout=30)
    helper.join(timeout=30)
    assert gate.held_here()
    with gate:  # this thread's writer enters what it holds, without waiting
        assert gate.held_here()
    gate.__exit__(None, None, None)
    assert not gate.held_here()
    with gate:  # free again for everyone
        pass


def open_wal_files(database: Path) -> list[str]:
    """What this process's descriptors of the database's WAL name (a removed file's name
    ends in " (deleted)")."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            name = os.readlink(f"/proc/self/fd/{fd}")
            if name.startswith(f"{database}-wal"):
                names.append(name)
    return names


@needs_proc_fds
def test_wal_sync_keeps_the_wal_open_and_follows_a_new_one_after_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "x.db"
    wal = WalSync(database)
    syncs = wal_syncs(monkeypatch)
    wal.sync()  # no WAL yet: nothing to sync, nothing kept open
    assert syncs == []
    assert open_wal_files(database) == []

    conn = connect(database)
    conn.execute("CREATE TABLE t (x)")
    sqlites_own = len(open_wal_files(database))
    wal.sync()
    wal.sync()
    assert len(syncs) == 2
    assert len(open_wal_files(database)) == sqlites_own + 1  # one descriptor, kept

    # The last connection's close checkpoints and deletes the WAL; its owner closes the
    # WalSync with it, and the next sync is of the WAL a new connection made.
    conn.close()
    wal.close()
    assert open_wal_files(database) == []  # none left on the deleted file
    conn = connect(database)
    conn.execute("INSERT INTO t VALUES (1)")
    wal.sync()
    assert len(syncs) == 3
    assert not [name for name in open_wal_files(database) if name.endswith("(deleted)")]
    conn.close()
    wal.close()
