"""Include a router's routes as the including router's own: one match per request.

FastAPI's ``include_router`` keeps the included router as one route of its parent (since
0.116); each request is matched against it twice (first to choose a route, then inside
it), and against every included router listed before the one that serves it. For a
command on the reservation service that was a tenth of the HTTP process's instructions
(callgrind: 1.23M against 1.10M per ``POST /reservations``). :func:`include_routes` adds
a copy of each route to the including router instead, built by the including router's
own ``add_api_route`` exactly as an ``@router.post(...)`` would have built it there: the
same OpenAPI operation, the including app's dependency overrides, the same route class
(:class:`~eventfold.entry.http.fast_path.FastPathRoute` keeps its fast path).

A router it cannot copy exactly (a route that is not an ``APIRoute``, such as a mount, a
websocket or a router included in it; startup or shutdown handlers; a lifespan) is
included with ``include_router``: correct, only slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

_DEFAULT_LIFESPAN = type(APIRouter().lifespan_context)

# Route options FastAPI added after 0.115: passed on only where the route has them.
_NEWER_OPTIONS = ("strict_content_type", "max_body_size", "form_limits")


def include_routes(into: APIRouter, router: APIRouter, *, tags: Sequence[str] = ()) -> None:
    """Add ``router``'s routes to ``into`` as ``into``'s own, each tagged ``tags`` first (as
    ``include_router(router, tags=tags)`` would tag them); see the module's docstring."""
    if not _copyable(router):
        into.include_router(router, tags=list(tags) or None)
        return
    for route in router.routes:
        assert isinstance(route, APIRoute)  # _copyable checked it
        into.add_api_route(
            route.path,
            route.endpoint,
            tags=[*tags, *route.tags],
            route_class_override=type(route),
            **_options(route),
        )


def _copyable(router: APIRouter) -> bool:
    return (
        all(isinstance(route, APIRoute) for route in router.routes)
        and not router.on_startup
        and not router.on_shutdown
        and isinstance(router.lifespan_context, _DEFAULT_LIFESPAN)
    )


def _options(route: APIRoute) -> dict[str, Any]:
    options: dict[str, Any] = {
        "response_model": route.response_model,
        "status_code": route.status_code,
        "dependencies": route.dependencies,
        "summary": route.summary,
        "description": route.description,
        "response_description": route.response_description,
        "responses": route.responses,
        "deprecated": route.deprecated,
        "methods": route.methods,
        "operation_id": route.operation_id,
        "response_model_include": route.response_model_include,
        "response_model_exclude": route.response_model_exclude,
        "response_model_by_alias": route.response_model_by_alias,
        "response_model_exclude_unset": route.response_model_exclude_unset,
        "response_model_exclude_defaults": route.response_model_exclude_defaults,
        "response_model_exclude_none": route.response_model_exclude_none,
        "include_in_schema": route.include_in_schema,
        "response_class": route.response_class,
        "name": route.name,
        "callbacks": route.callbacks,
        "openapi_extra": route.openapi_extra,
        "generate_unique_id_function": route.generate_unique_id_function,
    }
    for option in _NEWER_OPTIONS:
        if hasattr(route, option):
            options[option] = getattr(route, option)
    return options
