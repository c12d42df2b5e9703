"""The shared SQLite plumbing: connections with eventfold's pragmas, and the write gate's
entries that never block the caller. (Writers queueing on the gate are tested with the
event store: test_event_store.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from eventfold import ConfigurationError
from eventfold.adapters.sqlite.plumbing import FileWriteGate, connect
from tests.sqlite_support import gate_holder


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
