"""Connections that start with a write move to the writer: two uvicorn servers in one loop,
over real sockets; each answers with its own name, so the client sees who served it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from eventfold.entry.http.handover import (
    MOST_BYTES,
    AdoptedHttpProtocol,
    Adoption,
    HandingOverHttpProtocol,
    Handover,
)
from eventfold.entry.http.one_write import OneWriteHttpProtocol


def named(name: bytes) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering ``<name> <method> <path> <body length>``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        answer = b"%s %s %s %d" % (name, scope["method"].encode(), scope["path"].encode(), size)
        length = [(b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": length})
        await send({"type": "http.response.body", "body": answer})

    return app


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def request(method: str, path: str, body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def exchange(port: int, *requests: bytes, together: bool = False) -> list[bytes]:
    """Send ``requests`` on one connection (all in one write when ``together``), one after
    another's answer otherwise; the answers' bodies."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        reader = conn.makefile("rb")
        answers = []
        if together:
            conn.sendall(b"".join(requests))
        for sent in requests:
            if not together:
                conn.sendall(sent)
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            answers.append(reader.read(length))
        return answers


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, *, writer_listens: bool = True
) -> AsyncIterator[tuple[int, Handover, Adoption]]:
    """The writer (its app answers ``writer``) and another process's server (``other``),
    which hands connections over, running in this loop: the other's port, the handover
    and the adoption. Both stop when the block ends."""
    path = str(tmp_path / "handover.sock")
    adopted: list[Any] = []

    def adopted_protocol(first: bytes) -> asyncio.Protocol:
        server = adopted[0]
        return AdoptedHttpProtocol(
            config=server.config,
            server_state=server.server_state,
            app_state=server.lifespan.state,
            first=first,
        )

    adoption = Adoption(named(b"writer"), path, adopted_protocol)
    handover = Handover(path)
    servers = []
    protocols: list[tuple[Any, Any]] = [
        (adoption if writer_listens else named(b"writer"), OneWriteHttpProtocol),
        (named(b"other"), functools.partial(HandingOverHttpProtocol, handover=handover)),
    ]
    for app, protocol in protocols:
        config = uvicorn.Config(app, log_config=None, lifespan="on", http=protocol)
        servers.append(uvicorn.Server(config))
    adopted.append(servers[0])
    sockets = [listening(), listening()]
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, sockets, strict=True)
    ]
    try:
        while not all(server.started for server in servers):
            await asyncio.sleep(0.01)
        yield sockets[1].getsockname()[1], handover, adoption
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for sock in sockets:
            sock.close()


def test_a_connection_whose_first_request_writes_is_served_by_the_writer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as (port, handover, adoption):
            answers = await asyncio.to_thread(
                exchange,
                port,
                request("POST", "/reservations", b'{"sku":"a"}'),
                request("GET", "/reservations/1"),  # and every later request on it
                request("PUT", "/stock", b"{}"),
            )
            assert answers == [
                b"writer POST /reservations 11",
                b"writer GET /reservations/1 0",
                b"writer PUT /stock 2",
            ]
            reads = await asyncio.to_thread(
                exchange, port, request("GET", "/healthz"), request("POST", "/later", b"x")
            )
            assert reads == [b"other GET /healthz 0", b"other POST /later 1"]  # stays
            assert (handover.moved, adoption.adopted) == (1, 1)

    asyncio.run(scenario())


def test_requests_read_together_with_the_first_move_with_it_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as (port, handover, _):
            sent = [request("DELETE", f"/r/{n}", b"n" * n) for n in range(1, 6)]
            answers = await asyncio.to_thread(exchange, port, *sent, together=True)
            assert answers == [b"writer DELETE /r/%d %d" % (n, n) for n in range(1, 6)]
            assert handover.moved == 1

    asyncio.run(scenario())


def test_a_large_first_read_stays_where_it_landed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as (port, handover, _):
            body = b"b" * (MOST_BYTES + 1)
            answers = await asyncio.to_thread(exchange, port, request("POST", "/big", body))
            assert answers == [b"other POST /big %d" % len(body)]
            assert handover.moved == 0

    asyncio.run(scenario())


def test_without_a_writer_listening_connections_are_served_where_they_landed(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with serving(tmp_path, writer_listens=False) as (port, handover, _):
            answers = await asyncio.to_thread(
                exchange, port, request("POST", "/reservations", b"{}")
            )
            assert answers == [b"other POST /reservations 2"]
            assert handover.moved == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_connections_that_start_reading_stay(tmp_path: Path, method: str) -> None:
    async def scenario() -> None:
        async with serving(tmp_path) as (port, handover, _):
            answers = await asyncio.to_thread(exchange, port, request(method, "/x"))
            assert answers == [b"other %s /x 0" % method.encode()]
            assert handover.moved == 0

    asyncio.run(scenario())


def burst(port: int, count: int) -> list[bytes]:
    """``count`` connections, each sending a POST before any answer is read: their answers."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    try:
        for n, conn in enumerate(conns):
            conn.sendall(request("POST", f"/r/{n}"))
        answers = []
        for conn in conns:
            data = b""
            while not data.endswith(b" 0"):
                chunk = conn.recv(4096)
                assert chunk, "closed before it answered"
                data += chunk
            answers.append(data.rsplit(b"\r\n\r\n", 1)[1])
        return answers
    finally:
        for conn in conns:
            conn.close()


def test_a_burst_of_connections_is_served_by_the_writer_in_order(tmp_path: Path) -> None:

    async def scenario() -> None:
        async with serving(tmp_path) as (port, handover, adoption):
            answers = await asyncio.to_thread(burst, port, 40)
            assert answers == [b"writer POST /r/%d 0" % n for n in range(40)]
            assert (handover.moved, handover.stayed, adoption.adopted) == (40, 0, 40)

    asyncio.run(scenario())


class StandIn:
    """A connection on its way to the writer, standing in for the protocol: a pipe's end."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.gone = False
        self.stayed_with: bytes | None = None

    def fd(self) -> int:
        return self._fd

    def handed_over(self) -> None:
        self.gone = True

    def stay(self, first: bytes) -> None:
        self.stayed_with = first


def test_while_the_writer_is_behind_connections_wait_and_stay_if_it_goes(tmp_path: Path) -> None:
    async def scenario() -> None:
        path = str(tmp_path / "handover.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(path)
        listener.listen()
        handover = Handover(path)
        pipes = [os.pipe() for _ in range(120)]
        leaving = [StandIn(read) for read, _ in pipes]
        try:
            for n, one in enumerate(leaving):  # large enough to fill the writer's queue
                assert handover.offer(one, b"POST /%d " % n + b"x" * 3000)
            writer, _ = listener.accept()
            at_once = sum(one.gone for one in leaving)
            assert 0 < at_once < 120  # the writer's queue is full: the rest wait, in order
            assert [one.gone for one in leaving] == [True] * at_once + [False] * (120 - at_once)
            for n in range(at_once):  # the writer takes those: the next go
                first, fds, _, _ = socket.recv_fds(writer, 4000, 1)
                assert first.startswith(b"POST /%d " % n)
                for fd in fds:
                    os.close(fd)
            await asyncio.sleep(0.05)
            later = sum(one.gone for one in leaving)
            assert later > at_once
            writer.close()  # the writer goes away: those still waiting stay, with their bytes
            await asyncio.sleep(0.05)
            assert all(
                one.gone or (one.stayed_with or b"").startswith(b"POST /%d " % n)
                for n, one in enumerate(leaving)
            )
            assert handover.stayed == sum(one.stayed_with is not None for one in leaving) > 0
            assert handover.moved == sum(one.gone for one in leaving)
        finally:
            listener.close()
            for read, write in pipes:
                os.close(read)
                os.close(write)

    asyncio.run(scenario())


def test_at_startup_the_others_wait_for_the_writer_to_listen(tmp_path: Path) -> None:
    path = str(tmp_path / "handover.sock")
    assert not Handover(path).wait_for_writer(0.2)  # nobody listens: it gives up, in time
    handover = Handover(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def listen_later() -> None:
        time.sleep(0.3)
        listener.bind(path)
        listener.listen()

    later = threading.Thread(target=listen_later)
    later.start()
    try:
        started = time.monotonic()
        assert handover.wait_for_writer(10)
        assert 0.2 < time.monotonic() - started < 5
    finally:
        later.join()
        listener.close()


def test_a_connection_the_writer_can_no_longer_take_is_served_where_it_landed(
    tmp_path: Path,
) -> None:
    """The writer stops taking connections after the other process reached it: the next
    connection's hand-over fails as it is sent, and it is served here from its first bytes."""

    async def scenario() -> None:
        async with serving(tmp_path) as (port, handover, adoption):
            moved = await asyncio.to_thread(exchange, port, request("POST", "/a", b"1"))
            assert moved == [b"writer POST /a 1"]
            await adoption.stop()  # its end of the channel closes
            answers = await asyncio.to_thread(
                exchange, port, request("POST", "/b", b"22"), request("GET", "/c")
            )
            assert answers == [b"other POST /b 2", b"other GET /c 0"]
            assert (handover.moved, handover.stayed) == (1, 1)

    asyncio.run(scenario())
