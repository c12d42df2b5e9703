"""A database's WAL put on disk by a helper process, while the committing process goes on.

An event loop that commits its turn's commands and then calls ``fdatasync`` stops for as
long as the disk takes (0.13-0.5 ms per turn on the machines measured), and the sync's
kernel work runs on the loop's core. A thread would not help: it needs the GIL back to say
that the sync is done, and gets it only when the loop thread lets go. So a small process
does the syncing: the owner writes a byte per request into its stdin, the helper reads
every request waiting, runs one ``fdatasync`` of the WAL (which puts on disk whatever any
process wrote to the file before it began) and answers with how many requests it covered.
The owner watches the answers with its loop (:meth:`WalSyncHelper.fileno`).

This file is also the helper's program, run by path with only the standard library (no
package import): ``python -I wal_helper.py <wal path>``. It exits when its stdin closes,
so it never outlives its owner, even one killed with ``kill -9``; it ignores Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPLY_SIZE = 4
"""Bytes of one answer: how many requests one fdatasync covered (little-endian)."""


class HelperGone(Exception):
    """The helper process is gone (it died, or was killed): sync in-process instead."""


class WalSyncHelper:
    """Owner's side of the helper process syncing ``<database>-wal``.

    :meth:`request` after a commit; :meth:`answered` (when :meth:`fileno` is readable)
    says how many of the requests made so far are on disk, oldest first. Either raises
    :class:`HelperGone` once the helper is gone. Each request covers the commits made on
    the WAL file at that path before it: the helper keeps its descriptor, and opens the
    file again when it was deleted and made anew (SQLite deletes it when the database's
    last connection closes).
    """

    def __init__(self, database: Path | str) -> None:
        self.wal = f"{database}-wal"
        self._process = subprocess.Popen(
            [sys.executable, "-I", __file__, self.wal],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._requests = self._process.stdin.fileno()
        self._answers = self._process.stdout.fileno()
        os.set_blocking(self._answers, False)
        self._partial = b""

    @property
    def pid(self) -> int:
        return self._process.pid

    def fileno(self) -> int:
        """The descriptor that becomes readable when the helper has answered."""
        return self._answers

    def request(self) -> None:
        """Ask for one fdatasync covering every commit this process has made so far."""
        try:
            os.write(self._requests, b"\x01")
        except OSError as exc:  # BrokenPipeError: the helper is gone
            raise HelperGone(f"WAL sync helper {self.pid} is gone: {exc}") from exc

    def answered(self) -> int:
        """How many requests became durable since the last call (0: none yet)."""
        try:
            data = os.read(self._answers, 4096)
        except BlockingIOError:
            return 0
        if not data:
            raise HelperGone(f"WAL sync helper {self.pid} exited ({self._process.poll()})")
        data = self._partial + data
        whole = len(data) - len(data) % REPLY_SIZE
        self._partial = data[whole:]
        return sum(
            int.from_bytes(data[i : i + REPLY_SIZE], "little") for i in range(0, whole, REPLY_SIZE)
        )

    def close(self) -> None:
        """Stop the helper (it finishes the sync it is running) and wait for it."""
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def serve(requests: int, answers: int, wal: str) -> None:
    """The helper's loop: one fdatasync for every request waiting, until stdin closes."""
    descriptor: int | None = None
    while True:
        waiting = os.read(requests, 65536)
        if not waiting:
            return
        if descriptor is not None and not _still(descriptor, wal):
            os.close(descriptor)  # the WAL was deleted (and perhaps made anew) since
            descriptor = None
        if descriptor is None:
            try:
                descriptor = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                descriptor = None  # no WAL, nothing to sync (see WalSync)
        if descriptor is not None:
            os.fdatasync(descriptor)
        os.write(answers, len(waiting).to_bytes(REPLY_SIZE, "little"))


def _still(descriptor: int, path: str) -> bool:
    """Whether ``descriptor`` is still the file at ``path``. The owner keeps the WAL while
    it runs, but a store closed and opened again in its process may see it deleted and made
    anew; an fsync of the old file would put nothing of the new one on disk."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the owner decides when to stop (its exit
    # closes our stdin), and this process has no traceback to print.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.fileno(), sys.stdout.fileno(), sys.argv[1])
