"""Local e-mail for development (``make run``): every message is written as an ``.eml``
file into a folder (``EVENTFOLD_HOME/mail/``), without any SMTP server in between.

The file is named after the message's ``Message-ID`` (derived from the effects-ledger key),
so the rare re-delivery after a crash finds its file there and writes no second one:
the folder drops duplicates the way a receiving server drops a Message-ID it has seen.
Written as a file with no name, then linked under its name (on Linux; elsewhere written
aside and renamed), so a reader never sees half a message.

Why no SMTP sink any more: it was a second port nobody chose (a restart after kill -9 on a
random PORT failed when PORT + 25 was taken) and the SMTP exchange cost the router process
and the sink a fifth of their CPU under load (docs/performance.md).
"""

from __future__ import annotations

import errno
import hashlib
import os
import weakref
from collections.abc import Callable
from pathlib import Path

from eventfold.adapters.mail.smtp import SmtpMailer
from eventfold.core.reactions.effects import Email
from eventfold.errors import DeliveryFailed

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
_UNNAMED = getattr(os, "O_TMPFILE", 0)  # Linux: a file with no name, named once written
# What a file system without unnamed files, or a system without /proc, answers.
_UNNAMED_REFUSED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV}


class MailFolder:
    """Performs :class:`Email` effects by writing ``<digest of the key>.eml`` files into
    ``folder`` (created on first use), rendered exactly as :class:`SmtpMailer` sends them."""

    def __init__(self, folder: Path | str, *, sender: str = "eventfold@localhost") -> None:
        self.folder = Path(folder)
        self._renderer = SmtpMailer(sender=sender)
        self._made = False  # the folder exists (checked once, not per message)
        # Paths as plain strings: pathlib's joins and conversions cost 5 of a message's
        # 66 us of CPU (5,000 messages; most of the rest is the file system's work).
        self._prefix = os.path.join(self.folder, "")
        self._unnamed = bool(_UNNAMED)  # until the file system refuses one
        self._unnamed_worked = False  # one such file was written: its failures are real
        self._folder_fd: int | None = None
        self._close_folder: Callable[[], object] = lambda: None

    def __call__(self, email: Email, idempotency_key: str) -> None:
        name = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32] + ".eml"
        try:
            if not self._made:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._made = True
            if self._unnamed and self._write_unnamed(name, email, idempotency_key):
                return
            final = self._prefix + name
            if os.path.exists(final):
                return  # delivered before a crash: the same message, once
            partial = f"{self._prefix}.{name}.{os.getpid()}.part"
            # os.open/os.write, not open(): no buffered file object, and none of the fstat
            # and ioctl calls it makes (65 -> 58 us of CPU a message: 8,000 files, 4 pairs).
            fd = os.open(partial, _CREATE, 0o644)
            try:
                _write_all(fd, self._renderer.render(email, idempotency_key))
            finally:
                os.close(fd)
            os.replace(partial, final)
        except OSError as exc:
            self._forget_folder()
            raise DeliveryFailed(f"mail folder {self.folder}: {exc}") from exc

    def _write_unnamed(self, name: str, email: Email, idempotency_key: str) -> bool:
        """Write the message into a file with no name, then link it as ``name``: one entry
        made in the folder instead of a ``.part`` file made and renamed, and no look-up
        first (the link fails if ``name`` exists: delivered before a crash). Measured on
        ext4: 23-27 against 37-43 us of CPU a file (3,000 files, three pairs). False, and
        never again, when the file system or ``/proc`` refuses the first one."""
        try:
            if self._folder_fd is None:
                self._folder_fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                self._close_folder = weakref.finalize(self, os.close, self._folder_fd)
            fd = os.open(".", _UNNAMED | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=self._folder_fd)
        except OSError as exc:
            return self._refused(exc)
        try:
            _write_all(fd, self._renderer.render(email, idempotency_key))
            # With a dir_fd, os.link is linkat(2), which follows the /proc link to the file.
            os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=self._folder_fd)
        except FileExistsError:
            pass  # the same message, once
        except OSError as exc:
            return self._refused(exc)
        finally:
            os.close(fd)
        self._unnamed_worked = True
        return True

    def _refused(self, exc: OSError) -> bool:
        """False (write aside and rename from now on) when the first unnamed file was
        refused as such; else ``exc`` again, a failure of this message."""
        if not self._unnamed_worked and exc.errno in _UNNAMED_REFUSED:
            self._unnamed = False
            return False
        raise exc

    def _forget_folder(self) -> None:
        """After a failure: the next message makes the folder and opens it again (it may
        have been removed meanwhile)."""
        self._made = False
        self._close_folder()  # once: a spent finalizer does nothing
        self._folder_fd = None

    def messages(self) -> list[Path]:
        """The ``.eml`` files written so far, oldest first."""
        return sorted(self.folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def _write_all(fd: int, data: bytes) -> None:
    rest = memoryview(data)
    while rest:
        rest = rest[os.write(fd, rest) :]
