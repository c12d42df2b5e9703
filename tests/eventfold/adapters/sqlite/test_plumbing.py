"""The shared SQLite plumbing: connections with eventfold's pragmas. (The write gate is
tested with the event store that queues on it: test_event_store.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from eventfold import ConfigurationError
from eventfold.adapters.sqlite.plumbing import connect


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
