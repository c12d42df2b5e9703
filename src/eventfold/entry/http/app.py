"""The HTTP app factory: one FastAPI app mounting every service's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount

from eventfold.core.redaction import redact
from eventfold.entry.http.callers import (
    PUBLIC,
    Authentication,
    Caller,
    document_callers,
    require_role,
)
from eventfold.entry.http.docs import add_offline_docs
from eventfold.entry.http.edges import RequestEdges
from eventfold.entry.http.flat_routes import include_routes
from eventfold.entry.http.metrics import HttpMetrics
from eventfold.entry.http.problems import (
    PROBLEM_JSON,
    PROBLEM_TYPE_PREFIX,
    eventfold_error_response,
    http_error_response,
    problem_response,
    request_validation_response,
)
from eventfold.entry.http.stack import ServiceApp
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import DEFAULT_MAX_BODY_BYTES
from eventfold.errors import ConfigurationError, EventfoldError, Issue

ReadinessCheck = Callable[[], str | None]
"""Asks one dependency whether it answers (the event store, the query model, the router):
None when it does, else what is wrong. Called from a worker thread by ``GET /readyz``."""

StopRunner = Callable[[], None]
BackgroundRunner = Callable[[], StopRunner]
"""Starts work that lives as long as the app (an event router, a feed) and returns the
function that stops it. Started in order when the app starts, stopped in reverse order."""

_PROBLEM_RESPONSE_DOC: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "A problem (RFC 9457)", "content": {PROBLEM_JSON: {}}},
    "5XX": {"description": "A problem (RFC 9457)", "content": {PROBLEM_JSON: {}}},
}


def _lifespan(runners: Sequence[BackgroundRunner]) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stops: list[StopRunner] = []
        try:
            for start in runners:
                stops.append(start())
            yield
        finally:
            for stop in reversed(stops):
                stop()

    return lifespan


def create_app(
    services: Sequence[Service],
    context: ServiceContext,
    *,
    authentication: Authentication,
    runners: Sequence[BackgroundRunner] = (),
    readiness: Mapping[str, ReadinessCheck] | None = None,
    title: str = "eventfold",
    metrics: CollectorRegistry | None = None,
    http_metrics: HttpMetrics | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    pages: Callable[[FastAPI], object] | None = None,
) -> FastAPI:
    """The HTTP entry point: each service's routes (tagged with its name; matched before
    eventfold's own, so a service route that would answer one of their paths and methods
    is a :class:`ConfigurationError`), ``GET /healthz``,
    OpenAPI with Swagger UI at ``/docs`` and ReDoc at ``/redoc`` (served from the installed
    package, no CDN), and every error answered as ``application/problem+json``.

    ``authentication`` tells who calls (see :mod:`eventfold.entry.http.callers`); there is
    no way to leave it out. ``runners`` start with the app and stop with it (see
    :data:`BackgroundRunner`). ``metrics``: served as ``GET /metrics`` in the Prometheus
    text format, to the ``operator`` role, with the requests' and the commands' own
    (``http_metrics``; made in ``metrics`` when not given; the services' command handlers
    count into it through ``context.command_outcomes``). ``readiness``: the checks
    ``GET /readyz`` runs, by name (see :data:`ReadinessCheck`). ``max_body_bytes``: a larger
    request body is a 413 problem, refused before it is read. ``pages``: adds more of
    eventfold's own pages (the operator console) after those, so that a service route
    that would answer one of them is refused the same way.
    """
    names = [s.name for s in services]
    app = ServiceApp(
        title=title,
        description="Services: " + (", ".join(names) or "none"),
        # Each service's routes carry its name as their tag; its description explains it.
        openapi_tags=[{"name": s.name, "description": s.description} for s in services],
        lifespan=_lifespan(runners),
        responses=_PROBLEM_RESPONSE_DOC,
        docs_url=None,  # served from the installed package instead (add_offline_docs)
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks asked the global providers on every request
        # (1.5-3 % of a command's CPU); eventfold's metrics and logs are its own (/metrics).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # The services' routes first: a request is matched against the routes in order, and a
    # command should not first be tried against eventfold's own pages (docs, health,
    # metrics). A service route that would answer one of those is refused below.
    service_routes: list[tuple[str, BaseRoute]] = []
    for service in services:
        before = len(app.router.routes)
        include_routes(app.router, service.routes(context), tags=[service.name])
        service_routes += [(service.name, route) for route in app.router.routes[before:]]
    first_own = len(app.router.routes)
    add_offline_docs(app)
    document_callers(app)
    app.state.authentication = authentication
    readiness = dict(readiness or {})

    async def on_eventfold_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EventfoldError)
        return eventfold_error_response(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return request_validation_response(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return http_error_response(request, exc)

    app.add_exception_handler(EventfoldError, on_eventfold_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    counted = (http_metrics or HttpMetrics(metrics)) if metrics is not None else None
    app.add_middleware(RequestEdges, max_body_bytes=max_body_bytes, metrics=counted)

    @app.get("/healthz", tags=["health"], dependencies=[PUBLIC])
    async def healthz() -> dict[str, Any]:
        """Liveness: the process serves requests (HEAD too, for load balancers' probes)."""
        return {"status": "ok", "services": names}

    @app.head("/healthz", include_in_schema=False, dependencies=[PUBLIC])
    async def healthz_head() -> Response:
        return Response()

    # GET and HEAD as two routes, HEAD out of the schema: one route with both methods gave
    # both operations the same operationId in /openapi.json (FastAPI warned of it).
    @app.head("/readyz", include_in_schema=False, dependencies=[PUBLIC])
    @app.get("/readyz", tags=["health"], dependencies=[PUBLIC])
    async def readyz(request: Request) -> Response:
        """Readiness: every dependency answers (200), else 503 problem+json naming each one
        that does not (for a load balancer or an orchestrator to hold traffic back)."""
        failing = {}
        for name, check in readiness.items():
            try:
                reason = await to_thread.run_sync(check)
            except Exception as exc:  # a check that raises is a failing check
                reason = f"{type(exc).__name__}: {exc}"
            if reason is not None:
                failing[name] = redact(reason)
        if not failing:
            return JSONResponse({"status": "ready", "checks": sorted(readiness)})
        issues = [Issue(name, reason, "not_ready") for name, reason in failing.items()]
        return problem_response(
            request,
            status=503,
            type_=PROBLEM_TYPE_PREFIX + "not-ready",
            title="A dependency does not answer",
            detail="; ".join(f"{name}: {reason}" for name, reason in failing.items()),
            issues=issues,
            headers={"Retry-After": "5"},
        )

    if metrics is not None:
        registry = metrics

        @app.get("/metrics", tags=["health"], include_in_schema=False)
        def prometheus_metrics(caller: Caller) -> Response:
            """The router's metrics (lag, freshness, gaps, retries, parked streams) and the
            HTTP requests' and commands' (rate, latency, outcome), for the
            ``operator`` role. Collected in a worker thread: collectors may ask another
            process (the router process's metrics) or the router state (DynamoDB)."""
            require_role(caller, "operator")
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if pages is not None:
        pages(app)
    _refuse_shadowing(service_routes, app.router.routes[first_own:])
    return app


def _refuse_shadowing(
    service_routes: Sequence[tuple[str, BaseRoute]], own_routes: Sequence[BaseRoute]
) -> None:
    """A service route that would answer a path and method of eventfold's own routes (it is
    matched first) is a configuration error, not a silent takeover of ``/healthz``."""
    for own in own_routes:
        path = getattr(own, "path", "")
        if isinstance(own, Mount):
            path += "/any-file"
        own_methods = getattr(own, "methods", None)
        for service, route in service_routes:
            methods = getattr(route, "methods", None)
            regex = getattr(route, "path_regex", None)
            if regex is None or not regex.match(path):
                continue
            if methods and own_methods and not set(methods) & set(own_methods):
                continue
            raise ConfigurationError(
                f"service {service!r}: its route {' '.join(sorted(methods or []))} "
                f"{getattr(route, 'path', '')} would answer eventfold's own {path}; "
                "give it another path"
            )
