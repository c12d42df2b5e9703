"""Connections that write move to one HTTP process, the writer.

Several HTTP processes share ``eventfold run``'s port and the kernel decides where each
connection lands. When commands land on two processes, each pays for the other's commits
(its SQLite page cache dropped, its helper thread waiting for the file's write gate, its
turns' transactions and fsyncs shared by fewer commands): under ``bench/cpu_cost.py`` on 2
cores, 0.46-0.62 ms of HTTP CPU per command against 0.35 with one process taking them all
(docs/performance.md). Forwarding each command to one process
(:mod:`eventfold.entry.http.forwarding`) costs about as much as it saves.

So a connection whose first request writes (POST, PUT, PATCH, DELETE) is handed over
whole: the process it landed on sends the connection's socket, with the bytes read from it
so far, to the writer over a Unix socket (``SCM_RIGHTS``), and forgets it without a word to
the client; the writer serves it from there, this request and every later one, as if it
had accepted it. A client that keeps its connection (wrk, a partner's pool, a browser)
pays once. Connections that start with a read stay where they landed, which is what the
other processes are for.

A shortcut, never a dependency: when the writer cannot be reached (it is starting again
after a crash) or the first read is large, the connection stays and is served where it
landed, as before (the file's write gate keeps that correct); while the writer's socket is
full, the next connections wait for it, in order. A connection the writer had not yet
taken when it was killed is closed by the kernel unanswered, its request not begun: what
its client would have seen had the process it first reached died.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from eventfold.entry.http.beside import private_unix_socket, remove_socket_file, serve_beside
from eventfold.entry.http.one_write import OneWriteHttpProtocol

WRITE_METHODS = (b"POST ", b"PUT ", b"PATCH ", b"DELETE ")
"""How the first request of a connection that moves starts."""
MOST_BYTES = 64 * 1024
"""A connection whose first read is larger stays (one message carries it whole)."""
RECONNECT_AFTER_SECONDS = 0.05
"""After the writer could not be reached, connections stay this long before the next try."""
WRITER_STARTUP_SECONDS = 10.0
"""How long another process waits at startup for the writer to take connections."""

log = structlog.stdlib.get_logger("eventfold.http")


class Leaving(Protocol):
    """A connection on its way to the writer (:class:`HandingOverHttpProtocol`)."""

    def fd(self) -> int | None:
        """Its socket's file descriptor; None once it was closed meanwhile."""

    def handed_over(self) -> None:
        """The writer has it: forget it here."""

    def stay(self, first: bytes) -> None:
        """The writer could not take it: serve it here, from ``first`` on."""


class Handover:
    """The sending side, in the processes that are not the writer: hands a connection's
    socket and first bytes to the writer's Unix socket ``path``, in the order offered.
    When the writer's socket is full (it has not read those sent before: about 160
    connections whose first read is a small request), the next wait here, their reading
    paused, until it has read some."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._channel: socket.socket | None = None
        self._retry_at = 0.0
        self._waiting: deque[tuple[Leaving, bytes]] = deque()
        self.moved = 0
        """How many connections were handed over (for tests and benches)."""
        self.stayed = 0
        """How many connections that started writing stayed here."""

    def offer(self, leaving: Leaving, first: bytes) -> bool:
        """Whether the connection goes to the writer (``leaving`` hears when it has gone,
        or that it stays after all); False: it stays, nothing was done."""
        if self._connected() is None:
            return False
        self._waiting.append((leaving, first))
        if len(self._waiting) == 1:
            self._send()
        return True

    def wait_for_writer(self, seconds: float) -> bool:
        """Block until the writer takes connections, at most ``seconds``: at startup, so
        that the first connections do not land here before it listens (a load that
        starts as soon as ``/healthz`` answers would otherwise stay here whole)."""
        deadline = time.monotonic() + seconds
        while self._connected() is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(RECONNECT_AFTER_SECONDS)
        return True

    def _send(self) -> None:
        channel = self._channel
        while self._waiting and channel is not None:
            leaving, first = self._waiting[0]
            fd = leaving.fd()
            if fd is None:  # closed while it waited (the process is stopping)
                self._waiting.popleft()
                continue
            try:
                socket.send_fds(channel, [first], [fd])
            except BlockingIOError:  # the writer is behind: go on once it has read some
                asyncio.get_running_loop().add_writer(channel, self._send)
                return
            except OSError as exc:  # the writer is gone (it is starting again)
                log.info("connections are served here for now", reason=str(exc))
                self._drop()
                break
            self._waiting.popleft()
            self.moved += 1
            leaving.handed_over()
        if self._channel is not None:
            asyncio.get_running_loop().remove_writer(self._channel)
        while self._waiting:  # the channel broke: those still waiting stay
            leaving, first = self._waiting.popleft()
            self.stayed += 1
            leaving.stay(first)

    def _connected(self) -> socket.socket | None:
        if self._channel is None and time.monotonic() >= self._retry_at:
            channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                channel.connect(self.path)
            except OSError as exc:
                log.debug("connections are served here for now", reason=str(exc))
                channel.close()
                self._retry_at = time.monotonic() + RECONNECT_AFTER_SECONDS
                return None
            channel.setblocking(False)
            self._channel = channel
        return self._channel

    def _drop(self) -> None:
        if self._channel is not None:
            asyncio.get_running_loop().remove_writer(self._channel)
            self._channel.close()
            self._channel = None
        self._retry_at = time.monotonic() + RECONNECT_AFTER_SECONDS


class HandingOverHttpProtocol(OneWriteHttpProtocol):
    """The HTTP protocol of a process that is not the writer: a connection whose first
    bytes start a write request goes to the writer (:class:`Handover`)."""

    def __init__(self, *args: Any, handover: Handover, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handover: Handover | None = handover

    def data_received(self, data: bytes) -> None:
        handover, self._handover = self._handover, None  # the first bytes only
        if handover is not None and data.startswith(WRITE_METHODS):
            if len(data) <= MOST_BYTES and self.fd() is not None:
                # Paused before it is offered: the offer may hand it over (or give it
                # back, calling stay) at once.
                self.transport.pause_reading()
                if handover.offer(self, data):
                    return
                self.transport.resume_reading()
            handover.stayed += 1
        super().data_received(data)

    def fd(self) -> int | None:
        connection = self.transport.get_extra_info("socket")
        if connection is None or self.transport.is_closing():
            return None
        return int(connection.fileno())

    def handed_over(self) -> None:
        # The writer has its own reference to the socket: closing this one sends the
        # client nothing, and what it sends next is read by the writer.
        self.transport.abort()

    def stay(self, first: bytes) -> None:
        if self.transport.is_closing():
            return
        self.transport.resume_reading()
        super().data_received(first)


class AdoptedHttpProtocol(OneWriteHttpProtocol):
    """The writer's HTTP protocol for a connection handed over: it reads ``first`` (what
    the other process had read from it) before anything else."""

    def __init__(self, *args: Any, first: bytes, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first = first

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        first, self._first = self._first, b""
        if first:  # before the loop reads the socket: the bytes stay in order
            self.data_received(first)


ProtocolFactory = Callable[[bytes], asyncio.Protocol]
"""Makes the writer's protocol for a connection handed over, given its first bytes."""


class Adoption:
    """ASGI wrapper of the writer process's app: while the app runs (between its
    lifespan's startup and shutdown), it also takes the connections other processes hand
    over on the Unix socket ``path`` (made afresh at startup: a killed predecessor leaves
    its file), each served by a protocol from ``protocol``."""

    def __init__(self, app: ASGIApp, path: str, protocol: ProtocolFactory) -> None:
        self.app = app
        self.path = path
        self._protocol = protocol
        self._listening: socket.socket | None = None
        self._channels: list[socket.socket] = []
        self.adopted = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_beside(self.app, scope, receive, send, start=self.start, stop=self.stop)

    async def start(self) -> None:
        listening = private_unix_socket(self.path, socket.SOCK_SEQPACKET)
        listening.listen(64)
        listening.setblocking(False)
        self._listening = listening
        asyncio.get_running_loop().add_reader(listening, self._accept)

    async def stop(self) -> None:
        """Take no more connections (those adopted are the server's, stopped with it)."""
        loop = asyncio.get_running_loop()
        for sock in (self._listening, *self._channels):
            if sock is not None:
                loop.remove_reader(sock)
                sock.close()
        self._listening = None
        self._channels.clear()
        remove_socket_file(self.path)

    def _accept(self) -> None:
        assert self._listening is not None
        try:
            channel, _ = self._listening.accept()
        except BlockingIOError:
            return
        channel.setblocking(False)
        self._channels.append(channel)
        asyncio.get_running_loop().add_reader(channel, self._receive, channel)

    def _receive(self, channel: socket.socket) -> None:
        try:
            first, fds, _, _ = socket.recv_fds(channel, MOST_BYTES, 1)
        except BlockingIOError:
            return
        except OSError:
            first, fds = b"", []
        if not fds:  # the other process closed its end (or sent nothing we can use)
            asyncio.get_running_loop().remove_reader(channel)
            self._channels.remove(channel)
            channel.close()
            return
        connection = socket.socket(fileno=fds[0])
        for extra in fds[1:]:
            os.close(extra)
        task = asyncio.get_running_loop().create_task(self._adopt(connection, first))
        task.add_done_callback(_log_failure)

    async def _adopt(self, connection: socket.socket, first: bytes) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: self._protocol(first), connection
            )
        except BaseException:
            connection.close()
            raise
        self.adopted += 1


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a connection handed over could not be served", exc_info=task.exception())
