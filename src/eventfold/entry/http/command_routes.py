"""A short path through FastAPI for command routes that get well-formed requests.

FastAPI's request handler is general: it parses every kind of parameter, solves the
dependency graph (the caller, then the command's origin, then the ``Idempotency-Key``
header) and only then calls the route. For a command that is a fifth of the HTTP process's
CPU. :class:`CommandRoute` (``APIRouter(route_class=CommandRoute)``) answers the common
case itself: a route whose only dependency is :data:`~eventfold.web.CommandOrigin`, with
path parameters and at most one JSON body model, sent with a valid bearer token and no
``Idempotency-Key``. It validates with the route's own pydantic fields (the very validators
FastAPI would run), calls the route and serializes the answer with the route's response
field, as FastAPI does.

Everything else — a missing or bad token, an invalid body or path, another content type,
an ``Idempotency-Key``, a dependency override — goes to FastAPI's handler unchanged, before
the route has run, so every error keeps exactly the shape and order FastAPI gives it (a
test compares the two paths' answers for every command route). A route of another shape
gets FastAPI's handler only.
"""

from __future__ import annotations

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

from eventfold.core.app.origin import Origin
from eventfold.entry.http.callers import Authentication, command_origin
from eventfold.errors import EventfoldError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_JSON = b"application/json"


class CommandRoute(APIRoute):
    """An ``APIRoute`` that takes the short path for well-formed command requests (see the
    module's docstring); :attr:`short_path` says whether this route has one."""

    short_path: bool = False

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        # An included router builds its routes' handlers with its own effective settings
        # (prefix, added dependencies): read the shape from those, as FastAPI does.
        context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
        effective = context_var.get() if context_var is not None else None
        route = effective if effective is not None and effective.original_route is self else self
        short = _short_path(route, standard)
        self.short_path = short is not None
        return short or standard


def _short_path(route: Any, standard: Handler) -> Handler | None:
    """The short handler of ``route``, or None when its shape is not the one it covers."""
    dependant: Dependant = route.dependant
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        return None
    if len(dependant.dependencies) != 1 or dependant.dependencies[0].call is not command_origin:
        return None
    origin_name = dependant.dependencies[0].name
    if origin_name is None:
        return None
    if dependant.query_params or dependant.header_params or dependant.cookie_params:
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
    path_params = [(field.alias, field) for field in dependant.path_params]
    response_field = route.response_field
    status_code = route.status_code
    body_name = dependant.body_params[0].name if dependant.body_params else None

    async def handler(request: Request) -> Response:
        scope = request.scope
        if request.app.dependency_overrides:
            return await standard(request)
        token = None
        content_type = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if token is None:
                    scheme, _, credentials = value.decode("latin-1").partition(" ")
                    token = credentials.strip() if scheme.lower() == "bearer" else ""
            elif name == b"content-type":
                content_type = value
            elif name == b"idempotency-key":
                return await standard(request)
        if not token:
            return await standard(request)
        authentication: Authentication = request.app.state.authentication
        try:
            actor = authentication.actor(scope, token)
        except EventfoldError:
            return await standard(request)
        values: dict[str, Any] = {origin_name: Origin(actor)}
        given = scope.get("path_params", {})
        for alias, field in path_params:
            value, errors = field.validate(given.get(alias), {}, loc=("path", alias))
            if errors:
                return await standard(request)
            values[field.name] = value
        if body_name is not None:
            if content_type != _JSON:
                return await standard(request)
            try:
                data = json.loads(await request.body())
            except ValueError:
                return await standard(request)
            value, errors = body_field.validate(data, {}, loc=("body",))
            if errors:
                return await standard(request)
            values[body_name] = value
        answer = await call(**values)
        value, errors = response_field.validate(answer, {}, loc=("response",))
        if errors:  # the route's own bug: FastAPI answers it the same way (a 500)
            raise ResponseValidationError(errors=errors, body=answer)
        return Response(
            content=response_field.serialize_json(value),
            media_type="application/json",
            status_code=cast(int, status_code or 200),
        )

    return handler
