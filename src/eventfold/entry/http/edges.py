"""What every HTTP request passes through before FastAPI routes it, in one ASGI layer.

Four concerns, each written beside its own kind of thing:

- the request's ids on every line logged while it is handled
  (:func:`~eventfold.entry.http.request_logs.bind_request_ids`);
- its count and latency by route template and status
  (:class:`~eventfold.entry.http.metrics.HttpMetrics`);
- the body limit: a body over ``max_body_bytes`` is a 413 problem, never read whole
  (:mod:`eventfold.entry.http.limits`);
- an exception no handler took is a 500 problem that names nothing internal, logged with
  its traceback (:func:`~eventfold.entry.http.problems.unexpected_error_response`).

They were four middlewares. Each layer costs a coroutine per request and another wrapper
around every ``send``: as one layer, ``POST /reservations`` in-process takes 964k
instructions instead of 995k (callgrind; docs/performance.md, sixteenth session).
"""

from __future__ import annotations

import time

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventfold.entry.http.limits import TOO_LARGE, counting_receive, declared_length, refuse
from eventfold.entry.http.metrics import HttpMetrics
from eventfold.entry.http.problems import unexpected_error_response
from eventfold.entry.http.request_logs import bind_request_ids


class RequestEdges:
    """ASGI middleware for every HTTP request (see the module), the app's only one: the
    request's ids are on the lines of everything below it, and the metrics count the 413s
    and 500s it answers itself. ``metrics`` None: nothing counted."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: HttpMetrics | None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tokens = bind_request_ids(scope)
        began = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering
        started = False

        async def answer(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
            await send(message)

        try:
            declared = declared_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await refuse(scope, receive, answer, self.max_body_bytes)
                return
            # The server ends a body at its declared length (the rest of the bytes would
            # be the next request): only a chunked body is counted.
            reading = (
                receive if declared is not None else counting_receive(receive, self.max_body_bytes)
            )
            try:
                await self.app(scope, reading, answer)
            except HTTPException as exc:
                # A 413 raised while counting, met by something that does not answer
                # HTTPExceptions itself (FastAPI's handlers answer it as a problem).
                if exc.status_code != TOO_LARGE or started:
                    raise
                await refuse(scope, receive, answer, self.max_body_bytes)
        except Exception as exc:
            response = unexpected_error_response(scope, exc)  # logged, answered or not
            if started:
                raise
            await response(scope, receive, answer)
        finally:
            if self.metrics is not None:
                # The router put the matched route in the scope; its path is the template.
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                self.metrics.request(scope["method"], route, status, time.perf_counter() - began)
            structlog.contextvars.reset_contextvars(**tokens)
