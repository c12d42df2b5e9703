"""Request limits enforced before a route sees the request.

:class:`BodyLimit` refuses a request body over ``max_bytes`` with a 413 problem: at once
when ``Content-Length`` says so (nothing of the body is read), else (a chunked body) as
soon as the chunks received pass the bound. A pure ASGI middleware: Starlette's
``BaseHTTPMiddleware`` would buffer, and a framework-level size check answered text/plain.
"""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventfold.entry.http.problems import http_error_response

TOO_LARGE = 413


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(TOO_LARGE, detail=f"the request body is over {max_bytes} bytes")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed Content-Length itself
    return None


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is a 413 problem, never read whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                # The server ends the body at its declared length (the rest of the bytes
                # would be the next request): nothing to count.
                await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, so the
                    # app's own handler answers it as a problem.
                    raise _too_large(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:
            # Read by something that does not answer HTTPExceptions itself.
            if exc.status_code != TOO_LARGE or started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = http_error_response(Request(scope), _too_large(self.max_bytes))
        await response(scope, receive, send)
