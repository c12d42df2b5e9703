"""One HTTP process commits every command; the others hand theirs to it.

Several HTTP processes share ``eventfold run``'s port, and the kernel, not eventfold,
decides which of them a connection lands on. When commands land on more than one, every
process pays for the others' commits: its SQLite page cache is dropped after each of them,
commits that would have shared a turn's transaction and fsync are made alone, and a
stream whose state one process cached changed under it (measured on 2 cores: 0.99-1.22 ms
of HTTP CPU per command against 0.50-0.69 ms when one process took them all, and 0.24x
against 0.26-0.34x of the no-op ceiling, docs/performance.md). So, with
EVENTFOLD_ONE_WRITER=on, one HTTP process, the *writer*, serves a Unix socket
(:class:`WriterEndpoint`) where the others (:class:`ForwardWrites`) send every request that
may write (any method but GET, HEAD and OPTIONS), and relay its answer. Reads stay where
they land, which is what the second process is for. It is off by default: on a slow 2-core
host it took about a fifth less HTTP CPU per command than two processes committing (means
1.37 against 1.71 ms), but accepted fewer commands per second than the kernel's own
placement (seven pairs: 436-664 against 505-854), perhaps because one process gets one
share of the cores.

Forwarding is a shortcut, never a dependency: while the writer cannot be reached (it is
starting again after a crash, or stopping), a process serves the request itself, as it
did before, and the file's write lock and the streams' versions keep that correct. A
request the writer had taken when its connection broke (it was killed) may or may not
have been committed, so it is answered 503 (retry with the same ``Idempotency-Key``);
this is what its client would have seen had the process it was connected to died.

The socket speaks a small framing of our own, not HTTP: each frame is a fixed header
(request id, lengths), the ASGI scope's fields (or the answer's status and headers) as
length-prefixed bytes, and the body. Many requests share one connection at once; the writer runs
each as a task through its own ASGI app, so a forwarded command joins the commands of the
writer's own turn (one transaction, one fsync).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from typing import Any, cast

import structlog
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventfold.entry.http.beside import private_unix_socket, remove_socket_file, serve_beside
from eventfold.entry.http.problems import PROBLEM_TYPE_PREFIX, problem_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that never write: served by whichever process the request landed on."""
RECONNECT_AFTER_SECONDS = 0.5
"""After the writer could not be reached, requests are served locally this long before
the next attempt (so that a writer starting again is not asked once per request)."""
DRAIN_SECONDS = 10.0
"""How long a stopping writer lets forwarded requests already taken finish."""

_FRAME = struct.Struct("!QII")  # request id, length of the fields, length of the body
_COUNT = struct.Struct("!I")

log = structlog.stdlib.get_logger("eventfold.http")

Fields = list[bytes]
"""A frame's fields: the request's scope (see :func:`_request_fields`) or the answer's
status and headers, each as bytes."""


def _pack(fields: Fields) -> bytes:
    """Fields as bytes: their count, their lengths, then each. Against JSON with the headers
    decoded to text, with frames written once per turn too, a probe of 20,000 requests
    measured 85 -> 48-54 us of CPU per request on the forwarding side and 77 -> 43-50 us
    on the writer's (a no-op app behind it)."""
    count = len(fields)
    return b"".join((struct.pack(f"!I{count}I", count, *map(len, fields)), *fields))


def _unpack(data: bytes) -> Fields:
    (count,) = _COUNT.unpack_from(data)
    position = _COUNT.size + 4 * count
    fields = []
    for length in struct.unpack_from(f"!{count}I", data, _COUNT.size):
        fields.append(data[position : position + length])
        position += length
    return fields


class _Frames:
    """Splits a byte stream into frames, (request id, fields, body), and writes frames to
    a transport once per turn of the event loop, however many were written in it (the
    answers of a turn's commands are ready together, after its one fsync)."""

    __slots__ = ("_buffer", "_out", "transport")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def feed(self, data: bytes) -> list[tuple[int, Fields, bytes]]:
        self._buffer += data
        frames = []
        buffer = self._buffer
        while len(buffer) >= _FRAME.size:
            request_id, fields_length, body_length = _FRAME.unpack_from(buffer)
            start = _FRAME.size + fields_length
            end = start + body_length
            if len(buffer) < end:
                break
            fields = _unpack(bytes(buffer[_FRAME.size : start]))
            frames.append((request_id, fields, bytes(buffer[start:end])))
            del buffer[:end]
        return frames

    def write(self, request_id: int, fields: Fields, body: bytes) -> None:
        packed = _pack(fields)
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out += (_FRAME.pack(request_id, len(packed), len(body)), packed, body)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()


def _flat(pairs: Any) -> Fields:
    return [item for pair in pairs for item in pair]


def _pairs(items: Fields) -> list[tuple[bytes, bytes]]:
    return list(zip(items[::2], items[1::2], strict=True))


def _address(address: Any) -> Fields:
    if address is None:
        return [b"", b""]
    return [str(address[0]).encode(), str(address[1]).encode()]


def _address_of(host: bytes, port: bytes) -> tuple[str, int] | None:
    return None if not host and not port else (host.decode(), int(port))


def _request_fields(scope: Scope) -> Fields:
    """What the writer needs of a request's scope to serve it as if it had landed there."""
    return [
        scope["method"].encode(),
        scope.get("scheme", "http").encode(),
        scope.get("http_version", "1.1").encode(),
        scope.get("root_path", "").encode(),
        scope["path"].encode(),
        scope.get("raw_path") or scope["path"].encode(),
        scope.get("query_string", b""),
        *_address(scope.get("client")),
        *_address(scope.get("server")),
        *_flat(scope["headers"]),
    ]


def _scope(fields: Fields) -> Scope:
    (method, scheme, version, root, path, raw_path, query, *addresses) = fields[:11]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": version.decode(),
        "method": method.decode(),
        "scheme": scheme.decode(),
        "path": path.decode(),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root.decode(),
        "headers": _pairs(fields[11:]),
        "client": _address_of(*addresses[:2]),
        "server": _address_of(*addresses[2:]),
        "state": {},
    }


async def _answer(app: ASGIApp, scope: Scope, body: bytes) -> tuple[Fields, bytes]:
    """Run ``app`` on one request and collect its whole answer: [status, headers...], body."""
    start: Fields = [b"500"]
    chunks: list[bytes] = []
    answered = asyncio.Event()

    async def after_the_body() -> Message:
        await answered.wait()  # the forwarding process relays a disconnect no further
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = [b"%d" % message["status"], *_flat(message.get("headers", ()))]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    try:
        await app(scope, _replay(body, after_the_body), send)
    finally:
        answered.set()
    return start, b"".join(chunks)


LOST: Fields = [b"0"]
"""The status of an answer lost with the writer: the forwarding process answers 503."""


class _WriterSide(asyncio.Protocol):
    """The writer's end of one forwarding process's connection."""

    def __init__(self, endpoint: WriterEndpoint) -> None:
        self._endpoint = endpoint
        self._frames = _Frames()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not derive from asyncio.Transport).
        self._frames.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._frames.transport = None  # requests under way still run; their answers are lost

    def data_received(self, data: bytes) -> None:
        for request_id, fields, body in self._frames.feed(data):
            self._endpoint.track(asyncio.ensure_future(self._serve(request_id, fields, body)))

    async def _serve(self, request_id: int, fields: Fields, body: bytes) -> None:
        scope = _scope(fields)
        try:
            start, answer = await _answer(self._endpoint.app, scope, body)
        except Exception:
            # The app's own RequestEdges answers what it can; this failed after the
            # answer began. The forwarding process answers 503, as for a lost writer.
            log.exception("forwarded request failed", method=scope["method"], path=scope["path"])
            start, answer = LOST, b""
        if self._frames.open:
            self._frames.write(request_id, start, answer)


class WriterEndpoint:
    """ASGI wrapper of the writer process's app: while the app runs (between its lifespan's
    startup and shutdown), it also serves the requests other processes forward to the Unix
    socket ``path`` (made afresh at startup: a killed predecessor leaves its file)."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._running: set[asyncio.Future[None]] = set()

    def track(self, task: asyncio.Future[None]) -> None:
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_beside(self.app, scope, receive, send, start=self.start, stop=self.stop)

    async def start(self) -> None:
        sock = private_unix_socket(self.path, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _WriterSide(self), sock=sock)

    async def stop(self) -> None:
        """Take no more connections; let forwarded requests already taken finish."""
        if self._server is None:
            return
        self._server.close()
        remove_socket_file(self.path)
        if self._running:
            await asyncio.wait(set(self._running), timeout=DRAIN_SECONDS)
        self._server = None


class WriterLost(Exception):
    """The connection to the writer broke with this request under way there (or written in
    this very turn and not yet sent: answered as unknown all the same, which a retry with
    the same Idempotency-Key makes safe)."""


class _ForwardingSide(asyncio.Protocol):
    """A forwarding process's connection to the writer, shared by its requests."""

    def __init__(self) -> None:
        self._frames = _Frames()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[tuple[Fields, bytes]]] = {}

    @property
    def open(self) -> bool:
        return self._frames.open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._frames.transport = cast(asyncio.Transport, transport)  # as in _WriterSide

    def connection_lost(self, exc: Exception | None) -> None:
        self._frames.transport = None
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(WriterLost())

    def data_received(self, data: bytes) -> None:
        for request_id, start, body in self._frames.feed(data):
            future = self._waiting.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result((start, body))

    def send(self, fields: Fields, body: bytes) -> asyncio.Future[tuple[Fields, bytes]]:
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._frames.write(request_id, fields, body)
        return future


class ForwardWrites:
    """ASGI wrapper of a forwarding process's app: a request that may write, with a body
    of at most ``max_body_bytes`` declared up front, is served by the writer at the Unix
    socket ``path``; anything else, and everything while the writer cannot be reached, by
    ``app`` here."""

    def __init__(self, app: ASGIApp, path: str, *, max_body_bytes: int) -> None:
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes
        self._writer: _ForwardingSide | None = None
        self._connecting: asyncio.Future[_ForwardingSide | None] | None = None
        self._next_attempt = 0.0
        self._reachable = True  # until an attempt says otherwise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or not self._sized(scope):
            await self.app(scope, receive, send)
            return
        writer = await self._connection()
        if writer is None:
            await self.app(scope, receive, send)
            return
        body, disconnected = await _read_body(receive)
        if disconnected:
            return
        if not writer.open:  # lost while the body came in: nothing was sent yet
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            start, answer = await writer.send(_request_fields(scope), body)
        except WriterLost:
            start = LOST
        status = int(start[0])
        if status == 0:
            await _outcome_unknown(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": status, "headers": _pairs(start[1:])})
        await send({"type": "http.response.body", "body": answer})

    def _sized(self, scope: Scope) -> bool:
        """Forwarded only when the body's size is known and within the limit (a chunked or
        too large body is answered here, by the app's own limit)."""
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                return False
        if length is None:
            return True  # no body
        try:
            return int(length) <= self.max_body_bytes
        except ValueError:
            return False

    async def _connection(self) -> _ForwardingSide | None:
        """The open connection to the writer, made when there is none (one attempt for
        every request asking meanwhile); None while it cannot be reached."""
        if self._writer is not None and self._writer.open:
            return self._writer
        if self._connecting is None:
            if time.monotonic() < self._next_attempt:
                return None
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        return await asyncio.shield(connecting)

    async def _connect(self) -> _ForwardingSide | None:
        try:
            _, self._writer = await asyncio.get_running_loop().create_unix_connection(
                _ForwardingSide, self.path
            )
        except OSError as exc:
            self._writer = None
            self._next_attempt = time.monotonic() + RECONNECT_AFTER_SECONDS
            if self._reachable:  # said once per outage, not once per request
                log.warning(
                    "the writer process does not answer; committing commands here until it does",
                    socket=self.path,
                    error=str(exc),
                )
            self._reachable = False
        else:
            if not self._reachable:
                log.info("handing commands to the writer process", socket=self.path)
            self._reachable = True
        finally:
            self._connecting = None
        return self._writer


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client went away instead."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then what ``receive`` gives."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _outcome_unknown(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        Request(scope),
        status=503,
        type_=PROBLEM_TYPE_PREFIX + "outcome-unknown",
        title="The process handling the request stopped; it may or may not have been applied",
        detail="the service's writer process stopped while it handled this request; retry it "
        "with the same Idempotency-Key to have it applied exactly once",
        headers={"Retry-After": "1"},
    )
    await response(scope, receive, send)
