"""An app served by uvicorn on a loopback port in a thread, for tests over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def served(
    app: ASGIApp, *, http: type[asyncio.Protocol] | None = None
) -> Iterator[tuple[str, int]]:
    """Serve ``app`` on 127.0.0.1 (with uvicorn's HTTP protocol ``http``, default its own);
    yields (host, port) while it runs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="on", http=http or "auto")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(500):  # wait for startup, not a timing assertion
        if server.started:
            break
        thread.join(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
