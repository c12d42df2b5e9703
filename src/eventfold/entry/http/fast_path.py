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

_JSON = b"application/json"
_IDEMPOTENCY_KEY = IDEMPOTENCY_KEY_HEADER.lower().encode("latin-1")  # as ASGI names headers
_CALLERS = (command_origin, authenticated, public)


class FastPathRoute(APIRoute):
    """An ``APIRoute`` that answers well-formed requests on the fast path (see the module's
    docstring); :attr:`fast_path` says whether this route has one."""

    fast_path: bool = False

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        # An included router builds its routes' handlers with its own effective settings
        # (prefix, added dependencies): read the shape from those, as FastAPI does.
        context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
        effective = context_var.get() if context_var is not None else None
        route = effective if effective is not None and effective.original_route is self else self
        fast = _fast_path(route, standard)
        self.fast_path = fast is not None
        return fast or standard


def _fast_path(route: Any, standard: Handler) -> Handler | None:
    """The fast handler of ``route``, or None when its shape is not one it covers."""
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

    async def handler(request: Request) -> Response:
        scope = request.scope
        if request.app.dependency_overrides:
            return await standard(request)
        content_type = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == _IDEMPOTENCY_KEY:
                return await standard(request)
        values: dict[str, Any] = {}
        if caller_kind is not public:
            token = bearer_token(scope)
            if token is None:
                return await standard(request)
            authentication: Authentication = request.app.state.authentication
            try:
                actor = authentication.actor(scope, token)
            except EventfoldError:
                return await standard(request)
            values[cast(str, caller_name)] = (
                Origin(actor) if caller_kind is command_origin else actor
            )
        given = scope.get("path_params", {})
        for alias, field in path_params:
            value, errors = field.validate(given.get(alias), {}, loc=("path", alias))
            if errors:
                return await standard(request)
            values[field.name] = value
        if query_params:
            query = request.query_params
            for alias, field in query_params:
                raw = query.get(alias)
                if raw is None:  # as FastAPI: the default, validated unless None
                    if field.field_info.is_required():
                        return await standard(request)
                    raw = copy.deepcopy(field.default)
                    if raw is None:
                        values[field.name] = None
                        continue
                value, errors = field.validate(raw, {}, loc=("query", alias))
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
        if isinstance(answer, Response):
            return answer
        value, errors = response_field.validate(answer, {}, loc=("response",))
        if errors:  # the route's own bug: FastAPI answers it the same way (a 500)
            raise ResponseValidationError(errors=errors, body=answer)
        return Response(
            content=response_field.serialize_json(value),
            media_type="application/json",
            status_code=status_code,
        )

    return handler


def _alias(field: Any) -> str:
    """The name a parameter is read by, as FastAPI reads it."""
    return str(field.validation_alias or field.alias)
