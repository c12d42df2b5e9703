"""One socket write per response: the turn-gathering transport, and uvicorn serving with
it over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from eventfold.entry.http.one_write import OneWriteHttpProtocol, TurnWrites
from tests.eventfold.entry.http.live import served


class RecordingTransport:
    """The transport under the one being tested: records each write it is given."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000)}.get(name, default)


def writes_of(steps: Callable[[TurnWrites], None]) -> RecordingTransport:
    """Run ``steps(turn_writes)`` on a fresh loop, let two more turns pass, and return the
    transport underneath."""
    below = RecordingTransport()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        steps(TurnWrites(below, loop))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    return below


def test_what_one_turn_writes_goes_out_in_one_write() -> None:
    def steps(transport: TurnWrites) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert transport.get_write_buffer_size() == 38
        transport.write(b"ok")

    assert writes_of(steps).writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]


def test_nothing_is_written_before_the_turn_ends() -> None:
    seen: list[list[bytes]] = []

    def steps(transport: TurnWrites) -> None:
        transport.write(b"head")
        seen.append(list(transport._transport.writes))  # type: ignore[attr-defined]

    assert writes_of(steps).writes == [b"head"]
    assert seen == [[]]


def test_writelines_and_eof_keep_their_place_after_what_is_pending() -> None:
    def steps(transport: TurnWrites) -> None:
        transport.write(b"head")
        transport.writelines([b"body", b"tail"])
        transport.write_eof()

    assert writes_of(steps).writes == [b"headbodytail", b"<eof>"]


def test_closing_writes_what_is_pending_first() -> None:
    def steps(transport: TurnWrites) -> None:
        transport.write(b"head")
        transport.write(b"body")
        transport.close()

    below = writes_of(steps)
    assert below.writes == [b"headbody"]
    assert below.closed


def test_aborting_drops_what_is_pending() -> None:
    def steps(transport: TurnWrites) -> None:
        transport.write(b"head")
        transport.abort()

    below = writes_of(steps)
    assert below.writes == []
    assert below.aborted


def test_a_transport_closed_underneath_gets_no_write() -> None:
    def steps(transport: TurnWrites) -> None:
        transport.write(b"head")
        transport._transport.closed = True  # type: ignore[attr-defined]  # the peer went away

    assert writes_of(steps).writes == []


def test_everything_else_is_the_transport_underneath() -> None:
    def steps(transport: TurnWrites) -> None:
        assert transport.get_extra_info("peername") == ("127.0.0.1", 5000)
        assert not transport.is_closing()

    assert writes_of(steps).writes == []


async def _plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain " + request.path_params["n"])


async def _streamed(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(3):
            await asyncio.sleep(0.01)  # each chunk in a later turn of the loop
            yield f"chunk {n};".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


APP = Starlette(routes=[Route("/plain/{n}", _plain), Route("/streamed", _streamed)])


def test_uvicorn_serves_keep_alive_streamed_and_closing_responses_with_it() -> None:
    with served(APP, http=OneWriteHttpProtocol) as (host, port):
        with httpx.Client(base_url=f"http://{host}:{port}") as client:
            # several requests on one kept-alive connection
            assert [client.get(f"/plain/{n}").text for n in range(5)] == [
                f"plain {n}" for n in range(5)
            ]
            streamed = client.get("/streamed")
            assert streamed.text == "chunk 0;chunk 1;chunk 2;"
            assert streamed.headers["transfer-encoding"] == "chunked"
        # a request asking to close: the whole response arrives before the connection ends
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET /plain/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert received.endswith(b"\r\n\r\nplain 7")
