"""The WAL sync helper: its program (one fdatasync of the WAL for every request waiting,
answered with how many it covered) and its process (answers, ends with its owner, says
when it is gone)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eventfold.adapters.sqlite import wal_helper
from eventfold.adapters.sqlite.wal_helper import REPLY_SIZE, HelperGone, WalSyncHelper
from tests.processes import alive
from tests.sqlite_support import needs_proc_fds, wal_syncs


def answers_within(helper: WalSyncHelper, wanted: int, seconds: float = 10.0) -> int:
    """What the helper answered until ``wanted`` requests were covered (or time ran out)."""
    total = 0
    deadline = time.monotonic() + seconds
    while total < wanted and time.monotonic() < deadline:
        select.select([helper.fileno()], [], [], 0.1)
        total += helper.answered()
    return total


@pytest.fixture
def database(tmp_path: Path) -> Path:
    database = tmp_path / "eventfold.db"
    Path(f"{database}-wal").write_bytes(b"frames")
    return database


class ProgramOnThread:
    """The helper's program (:func:`wal_helper.serve`) on a thread of this process, asked
    and answered through pipes as its owner asks it; each answer waited for at most 10 s."""

    def __init__(self, wal: Path) -> None:
        requests, self._requests = os.pipe()
        self._answers, answers = os.pipe()
        self._thread = threading.Thread(
            target=wal_helper.serve, args=(requests, answers, str(wal)), daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def ask(self, requests: int = 1) -> None:
        os.write(self._requests, b"\x01" * requests)

    def answer(self) -> int:
        """How many requests its next fdatasync covered."""
        if not select.select([self._answers], [], [], 10)[0]:
            pytest.fail("the program did not answer within 10 s")
        return int.from_bytes(os.read(self._answers, REPLY_SIZE), "little")

    def stop(self) -> None:
        """Close its stdin, as an owner that goes away does: it must end."""
        os.close(self._requests)
        self._thread.join(10)
        assert not self._thread.is_alive()


@needs_proc_fds
def test_the_program_syncs_the_wal_once_for_every_request_waiting(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = wal_syncs(monkeypatch)
    program = ProgramOnThread(Path(f"{database}-wal"))
    program.ask(3)  # three requests before it first reads
    program.start()
    first = program.answer()
    program.ask()
    second = program.answer()
    program.stop()
    assert [first, second] == [3, 1]
    assert len(syncs) == 2  # one fdatasync of the WAL per batch of requests read


@needs_proc_fds
def test_the_program_syncs_a_wal_made_anew_not_the_deleted_one(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fdatasync = os.fdatasync

    def fdatasync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    wal = Path(f"{database}-wal")
    program = ProgramOnThread(wal)
    program.start()
    program.ask()
    assert program.answer() == 1
    wal.unlink()  # the database's last connection closed ...
    wal.write_bytes(b"new frames")  # ... and a new one began a WAL
    program.ask()
    assert program.answer() == 1
    program.stop()
    assert synced == [str(wal), str(wal)]  # not "... (deleted)" the second time


def test_the_program_answers_without_a_wal_to_sync(tmp_path: Path) -> None:
    program = ProgramOnThread(tmp_path / "none.db-wal")
    program.start()
    program.ask()
    assert program.answer() == 1
    program.stop()


def test_the_helper_answers_every_request(database: Path) -> None:
    helper = WalSyncHelper(database)
    try:
        assert helper.answered() == 0  # nothing asked, nothing answered (and no wait)
        helper.request()
        assert answers_within(helper, 1) == 1
        for _ in range(5):
            helper.request()
        assert answers_within(helper, 5) == 5  # in one answer or several
    finally:
        helper.close()
    assert not alive(helper.pid)


def test_the_helper_ignores_ctrl_c(database: Path) -> None:
    helper = WalSyncHelper(database)
    try:
        helper.request()
        assert answers_within(helper, 1) == 1  # started, its signal handling in place
        os.kill(helper.pid, signal.SIGINT)  # as Ctrl-C sends it to the process group
        helper.request()
        assert answers_within(helper, 1) == 1
        assert alive(helper.pid)
    finally:
        helper.close()


def test_a_killed_helper_is_reported_gone(database: Path) -> None:
    helper = WalSyncHelper(database)
    try:
        helper.request()
        assert answers_within(helper, 1) == 1
        os.kill(helper.pid, signal.SIGKILL)
        select.select([helper.fileno()], [], [], 10)
        with pytest.raises(HelperGone, match="exited"):
            helper.answered()
    finally:
        helper.close()
    with pytest.raises(HelperGone, match="is gone"):
        helper.request()  # (a killed helper's pipe may live on in a process forked meanwhile)


OWNER = textwrap.dedent(
    """
    import sys, time
    from eventfold.adapters.sqlite.wal_helper import WalSyncHelper
    helper = WalSyncHelper(sys.argv[1])
    print(helper.pid, flush=True)
    time.sleep(60)
    """
)


def test_the_helper_ends_with_its_owner_even_one_killed(database: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(database)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        helper_pid = int(owner.stdout.readline())
        assert alive(helper_pid)
        owner.kill()
        owner.wait(10)
        deadline = time.monotonic() + 10
        while alive(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(helper_pid)
    finally:
        owner.kill()
        owner.wait(10)
