"""The HTTP app's middleware stack, without the layers eventfold's app does not use.

FastAPI passes every request through ``ServerErrorMiddleware``,
``ExceptionTelemetryMiddleware`` and ``AppBodyLimitMiddleware`` before the app's own
middlewares, then ``ExceptionMiddleware`` (the exception handlers),
``AsyncExitStackMiddleware`` and the router, which tries the routes one by one. In the app
:func:`~eventfold.entry.http.app.create_app` makes, the first three never act:

- :class:`~eventfold.entry.http.edges.RequestEdges` answers every exception no handler took
  as a 500 problem, so ``ServerErrorMiddleware`` (a plain-text 500) only ever re-raised;
- the app's OpenTelemetry hooks are off, so ``ExceptionTelemetryMiddleware`` reported to
  no one;
- FastAPI's own body limit is not set (RequestEdges enforces EVENTFOLD_MAX_BODY_BYTES).

:class:`ServiceApp` leaves them out, and puts :class:`LiteralRoutes` in front of the
router: a request for a path without parameters goes straight to its route when no route
before it could take that path and method. The router matched a command of the reservation
service against the catalog's routes first. Together: 964k -> 890k-926k instructions per
``POST /reservations`` in-process (callgrind); with
:class:`~eventfold.entry.http.edges.RequestEdges`, about 5 % less of the writer's CPU per
command under ``bench/pipeline.py`` (docs/performance.md, sixteenth session).

An app that needs what was left out (debug tracebacks, a handler for 500 or
``Exception``, FastAPI's ``max_body_size`` or form limits) gets FastAPI's own stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send


class ServiceApp(FastAPI):
    """A FastAPI app whose middleware stack is the one described in the module."""

    def build_middleware_stack(self) -> ASGIApp:
        handlers = dict(self.exception_handlers)
        if (
            self.debug
            or 500 in handlers
            or Exception in handlers
            or getattr(self, "max_body_size", None) is not None
            or getattr(self.router, "form_limits", None)
        ):
            return super().build_middleware_stack()
        app: ASGIApp = AsyncExitStackMiddleware(LiteralRoutes(self.router))
        app = ExceptionMiddleware(app, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


class LiteralRoutes:
    """``router``, with each request for a path without parameters (``/reservations``)
    handed straight to the route that would take it: the first of the router's routes that
    matches that path and method, when nothing before it could match them. Anything else
    (parameters in the path, a root path, a path no route has) goes to the router. The
    table is made again when the router's routes change in number."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._table: dict[tuple[str, str], Route] = {}
        self._made_for = -1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            routes = self.router.routes
            if len(routes) != self._made_for:
                self._table = literal_table(routes)
                self._made_for = len(routes)
            route = self._table.get((scope["method"], scope["path"]))
            if route is not None:
                match, child_scope = route.matches(scope)
                # FastAPI merges a child scope's own "fastapi" entry into the request's
                # (routes of an included router); a plain update would replace it, so such
                # a match is the router's to apply.
                if match is Match.FULL and "fastapi" not in child_scope:
                    scope.setdefault("router", self.router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.router(scope, receive, send)


def literal_table(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(method, path) -> route, for each route whose path has no parameters and that no
    route before it could take: one whose pattern matches the path with that method (or
    with any, a mount), or one of a kind whose matching is not known here (such as a host):
    after that the table stops."""
    table: dict[tuple[str, str], Route] = {}
    earlier: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, WebSocketRoute):
            continue  # never takes an HTTP request
        if not hasattr(route, "path_regex"):
            break
        if isinstance(route, Route) and route.methods and "{" not in route.path:
            for method in route.methods:
                key = (method, route.path)
                if key not in table and not any(
                    _could_take(e, method, route.path) for e in earlier
                ):
                    table[key] = route
        earlier.append(route)
    return table


def _could_take(route: Any, method: str, path: str) -> bool:
    if not route.path_regex.match(path):
        return False
    methods = getattr(route, "methods", None)
    return not methods or method in methods
