"""What the writer HTTP process serves beside its app, for as long as the app runs: the
commands other processes forward (:mod:`~eventfold.entry.http.forwarding`) and the
connections they hand over (:mod:`~eventfold.entry.http.handover`), each on a private Unix
socket."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Hook = Callable[[], Awaitable[None]]


async def serve_beside(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, start: Hook, stop: Hook
) -> None:
    """Pass ``scope`` to ``app``; for its lifespan, call ``start`` once the app has started
    and ``stop`` as soon as it is told to shut down (before the app's own shutdown)."""
    if scope["type"] != "lifespan":
        await app(scope, receive, send)
        return

    async def lifespan_receive() -> Message:
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            await stop()
        return message

    async def lifespan_send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            await start()
        await send(message)

    await app(scope, lifespan_receive, lifespan_send)


def private_unix_socket(path: str, kind: socket.SocketKind) -> socket.socket:
    """A Unix socket of ``kind`` bound to ``path``, made afresh (a killed predecessor leaves
    its file), that only this user's processes may connect to."""
    remove_socket_file(path)
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.bind(path)
    os.chmod(path, 0o600)
    return sock


def remove_socket_file(path: str) -> None:
    """The file of a socket :func:`private_unix_socket` made, gone (if still there)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
