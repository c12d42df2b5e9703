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

import inspect
from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.routing import APIRoute

_DEFAULT_LIFESPAN = type(APIRouter().lifespan_context)

# What add_api_route takes besides the path, the endpoint, the tags and the route class:
# each is kept on the route under its own name (FastAPI's include_router reads them back
# the same way). Read from the installed FastAPI, so that an option it adds is passed on;
# should a route not keep one, its router is included as FastAPI includes it.
_OPTIONS = tuple(
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in {"self", "path", "endpoint", "tags", "route_class_override"}
)


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
            **{name: getattr(route, name) for name in _OPTIONS},
        )


def _copyable(router: APIRouter) -> bool:
    return (
        all(
            isinstance(route, APIRoute) and all(hasattr(route, name) for name in _OPTIONS)
            for route in router.routes
        )
        and not router.on_startup
        and not router.on_shutdown
        and isinstance(router.lifespan_context, _DEFAULT_LIFESPAN)
    )
