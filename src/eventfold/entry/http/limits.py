"""The request body limit, enforced before a route sees the request.

A body over the limit is a 413 problem: at once when ``Content-Length`` says so (nothing
of the body is read, :func:`declared_length`), else (a chunked body) as soon as the chunks
received pass the bound (:func:`counting_receive`). Applied by the app's one middleware
(:class:`~eventfold.entry.http.edges.RequestEdges`), in pure ASGI: Starlette's
``BaseHTTPMiddleware`` would buffer, and a framework-level size check answered text/plain.
"""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from eventfold.entry.http.problems import http_error_response

TOO_LARGE = 413


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(TOO_LARGE, detail=f"the request body is over {max_bytes} bytes")


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, None when it has none (a chunked body)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed Content-Length itself
    return None


def counting_receive(receive: Receive, max_bytes: int) -> Receive:
    """``receive``, raising a 413 ``HTTPException`` once the chunks received pass
    ``max_bytes``: FastAPI re-raises an HTTPException met while reading the body, so the
    app's own handler answers it as a problem."""
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise _too_large(max_bytes)
        return message

    return counting


async def refuse(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
    """Answer the 413 problem of a body over ``max_bytes``."""
    response = http_error_response(Request(scope), _too_large(max_bytes))
    await response(scope, receive, send)
