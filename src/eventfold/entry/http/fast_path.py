"""A fast path through FastAPI for routes that get well-formed requests.

FastAPI's request handler is general: it parses every kind of parameter, solves the
dependency graph (for a command: the caller, then the command's origin, then the
``Idempotency-Key`` header) and only then calls the route. For a small command or a page
of a list that is a fifth to a quarter of the HTTP process's CPU. :class:`FastPathRoute`
(``APIRouter(route_class=FastPathRoute)``) answers the common case itself, for an ``async``
route whose one dependency is the caller (:data:`~eventfold.web.Caller`), a command's
origin (:data:`~eventfold.web.CommandOrigin`) or :data:`~eventfold.web.PUBLIC`, and whose
other parameters are path and query parameters and at most one JSON body model: sent with
a valid bearer token (none for a public route) and no ``Idempotency-Key``, it validates each
parameter with the route's own pydantic fields (the very validators FastAPI would run),
calls the route and answers what it returned, serialized by the route's response field as
FastAPI does.

Everything else — a missing or bad token, an invalid body, path or query parameter, another
content type, an ``Idempotency-Key``, a dependency override — goes to FastAPI's handler
unchanged, before the route has run, so every error keeps exactly the shape and order
FastAPI gives it (a test compares the two paths' answers). A route of another shape gets
FastAPI's handler only.

The fast path is an ASGI callable that the route's :meth:`~FastPathRoute.handle` calls in
place of FastAPI's wrapper around the handler (a ``Request``, two exit stacks, an
exception-handling layer with its own ``send``, a ``Response``), which a route of this
shape has no use for: it reads the body from ``receive`` and sends the answer's two
messages itself. An exception the route raises goes on to the app's exception handlers,
which answer it as they would have behind that wrapper. 1.02M -> 0.92M instructions per
``POST /reservations`` in-process (callgrind; docs/performance.md, eighteenth session). A
route of an included router (FastAPI's own ``include_router``, not
:func:`~eventfold.entry.http.flat_routes.include_routes`) keeps FastAPI's handler.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import Request, Response
from fastapi import routing as fastapi_routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.params import Body, Form
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventfold.core.app.origin import Origin
from eventfold.entry.http.callers import (
    IDEMPOTENCY_KEY_HEADER,
    Authentication,
    authenticated,
    bearer_token,
    command_origin,
    public,
)
from eventfold.errors import EventfoldError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
FastPath = Callable[[Scope, Receive, Send, ASGIApp], Coroutine[Any, Any, None]]
"""A route's fast path: the request's scope, receive and send, and the app to hand the
request to when the fast path does not cover it."""

_JSON = b"application/json"
_IDEMPOTENCY_KEY = IDEMPOTENCY_KEY_HEADER.lower().encode("latin-1")  # as ASGI names headers
_CALLERS = (command_origin, authenticated, public)


class FastPathRoute(APIRoute):
    """An ``APIRoute`` that answers well-formed requests on the fast path (see the module's
    docstring); :attr:`fast_path` says whether this route has one."""

    fast_path: bool = False
    _fast: FastPath | None = None

    def get_route_handler(self) -> Handler:
        # An included router builds its routes' handlers with its own effective settings
        # (prefix, added dependencies) and calls them itself: those keep FastAPI's handler.
        if _building_for(self) is None:
            self._fast = _fast_path(self)
            self.fast_path = self._fast is not None
        return super().get_route_handler()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self._fast
        if (
            fast is not None
            and scope["method"] in (self.methods or ())
            and not _included(scope, self)
        ):
            await fast(scope, receive, send, self.app)
        else:
            await super().handle(scope, receive, send)


_effective_route_context = getattr(fastapi_routing, "_effective_route_context_var", None)
_scope_effective_route = getattr(fastapi_routing, "_get_scope_effective_route_context", None)


def _building_for(route: APIRoute) -> Any:
    """The included router's settings the handler of ``route`` is being built with, if so."""
    effective = _effective_route_context.get() if _effective_route_context else None
    return effective if effective is not None and effective.original_route is route else None


def _included(scope: Scope, route: APIRoute) -> bool:
    """Whether the request came to ``route`` through an included router."""
    if _scope_effective_route is None:
        return "fastapi" in scope
    effective = _scope_effective_route(scope)
    return effective is not None and effective.original_route is route


def _fast_path(route: Any) -> FastPath | None:
    """The fast path of ``route``, or None when its shape is not one it covers."""
    dependant: Dependant = route.dependant
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        return None
    if len(dependant.dependencies) != 1 or dependant.dependencies[0].call not in _CALLERS:
        return None
    caller = dependant.dependencies[0]
    caller_name = caller.name
    if caller.call is not public and caller_name is None:
        return None
    if dependant.header_params or dependant.cookie_params:
        return None
    if any(
        name is not None
        for name in (
            dependant.request_param_name,
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
        )
    ):
        return None
    if not isinstance(route.response_class, DefaultPlaceholder) or route.response_field is None:
        return None
    if getattr(route, "max_body_size", None) is not None:
        return None  # FastAPI's body limit wraps its handler, and only that
    body_field = route.body_field
    if len(dependant.body_params) > 1:
        return None
    if dependant.body_params:
        # Not embedded: the body is this one model, as JSON.
        if body_field is not dependant.body_params[0]:
            return None
        info = body_field.field_info
        if not isinstance(info, Body) or isinstance(info, Form):
            return None
    path_params = [(_alias(field), field) for field in dependant.path_params]
    query_params = [(_alias(field), field) for field in dependant.query_params]
    response_field = route.response_field
    status_code = cast(int, route.status_code or 200)
    body_name = dependant.body_params[0].name if dependant.body_params else None
    caller_kind = caller.call

    async def fast(scope: Scope, receive: Receive, send: Send, standard: ASGIApp) -> None:
        app = scope["app"]
        if app.dependency_overrides:
            return await standard(scope, receive, send)
        content_type = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == _IDEMPOTENCY_KEY:
                return await standard(scope, receive, send)
        values: dict[str, Any] = {}
        if caller_kind is not public:
            token = bearer_token(scope)
            if token is None:
                return await standard(scope, receive, send)
            authentication: Authentication = app.state.authentication
            try:
                actor = authentication.actor(scope, token)
            except EventfoldError:
                return await standard(scope, receive, send)
            values[cast(str, caller_name)] = (
                Origin(actor) if caller_kind is command_origin else actor
            )
        given = scope.get("path_params", {})
        for alias, field in path_params:
            value, errors = field.validate(given.get(alias), {}, loc=("path", alias))
            if errors:
                return await standard(scope, receive, send)
            values[field.name] = value
        if query_params:
            query = QueryParams(scope["query_string"])
            for alias, field in query_params:
                raw = query.get(alias)
                if raw is None:  # as FastAPI: the default, validated unless None
                    if field.field_info.is_required():
                        return await standard(scope, receive, send)
                    raw = copy.deepcopy(field.default)
                    if raw is None:
                        values[field.name] = None
                        continue
                value, errors = field.validate(raw, {}, loc=("query", alias))
                if errors:
                    return await standard(scope, receive, send)
                values[field.name] = value
        if body_name is not None:
            if content_type != _JSON:
                return await standard(scope, receive, send)
            body = await _read_body(receive)
            try:
                data = json.loads(body)
            except ValueError:
                return await standard(scope, _replay(body, receive), send)
            value, errors = body_field.validate(data, {}, loc=("body",))
            if errors:
                return await standard(scope, _replay(body, receive), send)
            values[body_name] = value
        # What the route raises goes on to the app's exception handlers (Starlette's
        # ExceptionMiddleware), which answer it as they would from FastAPI's wrapper.
        answer = await call(**values)
        if isinstance(answer, Response):
            return await answer(scope, receive, send)
        value, errors = response_field.validate(answer, {}, loc=("response",))
        if errors:  # the route's own bug: FastAPI answers it the same way (a 500)
            raise ResponseValidationError(errors=errors, body=answer)
        content = response_field.serialize_json(value)
        # As Starlette's Response(content, media_type="application/json") starts it.
        await send(
            {
                "type": "http.response.start",
                "status": status_code,
                "headers": [
                    (b"content-length", str(len(content)).encode("latin-1")),
                    (b"content-type", _JSON),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return fast


async def _read_body(receive: Receive) -> bytes:
    """The request's whole body, as ``Request.body()`` reads it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive``, giving ``body`` (already read from it) first."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _alias(field: Any) -> str:
    """The name a parameter is read by, as FastAPI reads it."""
    return str(field.validation_alias or field.alias)
