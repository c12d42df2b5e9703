"""Include a router's routes as the including router's own: one match per request.

FastAPI's ``include_router`` keeps the included router as one route of its parent (0.165,
the version installed here); each request is matched against it twice (first to choose a
route, then inside it), and against every included router listed before the one that
serves it. For a command on the reservation service that was 13 % of the HTTP app's
instructions (callgrind, in-process: 1.30M against 1.13M per ``POST /reservations``).
:func:`include_routes` adds a copy of each route to the including router instead, built
by the including router's own ``add_api_route`` exactly as an ``@router.post(...)`` would
have built it there: the same OpenAPI operation, the including app's dependency
overrides, the same route class (:class:`~eventfold.entry.http.fast_path.FastPathRoute`
keeps its fast path).

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

# What add_api_route takes besides the path, the endpoint, the tags and the route class.
_OPTIONS = (
    "response_model",
    "status_code",
    "dependencies",
    "summary",
    "description",
    "response_description",
    "responses",
    "deprecated",
    "methods",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "name",
    "callbacks",
    "openapi_extra",
    "generate_unique_id_function",
)
# Options FastAPI added after 0.115: passed on only where the route has them.
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
    """The route's options as ``add_api_route`` takes them (each is the attribute of the
    same name)."""
    names = _OPTIONS + tuple(name for name in _NEWER_OPTIONS if hasattr(route, name))
    return {name: getattr(route, name) for name in names}
