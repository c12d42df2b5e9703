"""One socket write per response.

uvicorn's httptools protocol writes a response's status line and headers as soon as the
app starts the response, and its body as a second write: two ``send`` system calls and two
TCP segments on a keep-alive connection with ``TCP_NODELAY``, and the client reads twice.
:class:`OneWriteHttpProtocol` gathers what the protocol writes during one turn of the event
loop and writes it once at the end of that turn. An app that sends its start and body
without waiting on anything in between (Starlette's ``Response`` does) answers with one
write; a streaming response still goes out turn by turn."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TurnWrites:
    """A transport that writes at the end of the loop's turn what was written during it.
    Everything else is the wrapped transport's. Closing writes what is pending first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    # Every way of writing goes through the buffer: forwarded to the transport underneath
    # (``__getattr__``), these would overtake what is pending.
    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        pending = sum(map(len, self._pending)) if self._pending else 0
        return pending + self._transport.get_write_buffer_size()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each turn's output once (see the module)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(TurnWrites(transport, self.loop))  # type: ignore[arg-type]
