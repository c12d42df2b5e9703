"""A local SMTP sink for development (``make run``): accepts every message on a loopback
port and writes it as an ``.eml`` file into a folder (``EVENTFOLD_HOME/mail/``), so the
e-mails a service sends can be opened with any mail client. Not for production.

``mail_sink_runner(folder, host, port)`` returns a runner for the HTTP app's lifespan: it
starts the sink with the app and returns the function that stops it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _EmlWriter:
    """aiosmtpd handler: one ``<time>-<n>.eml`` file per message (written, then renamed)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            self._count += 1
            name = f"{time.time_ns()}-{self._count:06d}.eml"
        partial = self.folder / (name + ".part")
        partial.write_bytes(data)
        os.replace(partial, self.folder / name)
        return "250 Message accepted for delivery"


class MailSink:
    """A running sink; :meth:`stop` shuts it down."""

    def __init__(self, folder: Path | str, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self._controller = Controller(_EmlWriter(self.folder), hostname=host, port=port)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[Path]:
        """The ``.eml`` files received so far, oldest first."""
        return sorted(self.folder.glob("*.eml"))


def start_mail_sink(folder: Path | str, host: str = "127.0.0.1", port: int = 8025) -> MailSink:
    """Start a sink writing into ``folder``; returns it (``.stop()`` to shut it down)."""
    return MailSink(folder, host, port).start()


def mail_sink_runner(
    folder: Path | str, host: str = "127.0.0.1", port: int = 8025
) -> Callable[[], Callable[[], None]]:
    """A BackgroundRunner (see ``eventfold.web``) running the sink as long as the app."""

    def start() -> Callable[[], None]:
        return start_mail_sink(folder, host, port).stop

    return start
