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
from tests.sqlite_support import needs_proc_fds, wal_syncs


def answers_within(helper: WalSyncHelper, wanted: int, seconds: float = 10.0) -> int:
    """What the helper answered until ``wanted`` requests were covered (or time ran out)."""
    total = 0
    deadline = time.monotonic() + seconds
    while total < wanted and time.monotonic() < deadline:
        select.select([helper.fileno()], [], [], 0.1)
        total += helper.answered()
    return total


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet waited for, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    database = tmp_path / "eventfold.db"
    Path(f"{database}-wal").write_bytes(b"frames")
    return database


@needs_proc_fds
def test_the_program_syncs_the_wal_once_for_every_request_waiting(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = wal_syncs(monkeypatch)
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    os.write(requests_write, b"\x01\x01\x01")  # three requests before it first reads
    serving = threading.Thread(
        target=wal_helper.serve, args=(requests_read, answers_write, f"{database}-wal")
    )
    serving.start()
    first = os.read(answers_read, REPLY_SIZE)
    os.write(requests_write, b"\x01")
    second = os.read(answers_read, REPLY_SIZE)
    os.close(requests_write)  # the owner is gone: the program ends
    serving.join(10)
    assert not serving.is_alive()
    assert [int.from_bytes(a, "little") for a in (first, second)] == [3, 1]
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
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    serving = threading.Thread(
        target=wal_helper.serve, args=(requests_read, answers_write, str(wal))
    )
    serving.start()
    os.write(requests_write, b"\x01")
    os.read(answers_read, REPLY_SIZE)
    wal.unlink()  # the database's last connection closed ...
    wal.write_bytes(b"new frames")  # ... and a new one began a WAL
    os.write(requests_write, b"\x01")
    os.read(answers_read, REPLY_SIZE)
    os.close(requests_write)
    serving.join(10)
    assert synced == [str(wal), str(wal)]  # not "... (deleted)" the second time


def test_the_program_answers_without_a_wal_to_sync(tmp_path: Path) -> None:
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    serving = threading.Thread(
        target=wal_helper.serve, args=(requests_read, answers_write, f"{tmp_path}/none.db-wal")
    )
    serving.start()
    os.write(requests_write, b"\x01")
    assert int.from_bytes(os.read(answers_read, REPLY_SIZE), "little") == 1
    os.close(requests_write)
    serving.join(10)
    assert not serving.is_alive()


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
