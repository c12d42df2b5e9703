"""create_app: the services' routes are matched before eventfold's own, and a service
route that would answer one of eventfold's own paths is refused at startup."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from eventfold import ConfigurationError, SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import PUBLIC, Service, ServiceContext, create_app, installed_services


def service_with(router: APIRouter) -> Service:
    return Service(
        name="toy",
        codec=installed_services(["reservations"])[0].codec,
        categories=("toy",),
        routes=lambda context: router,
    )


def test_the_services_routes_come_before_eventfolds_own(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    app = create_app(
        installed_services(["reservations"]),
        ServiceContext(SqliteEventStore(tmp_path / "events.db")),
        authentication=token_issuer.authentication,
        metrics=CollectorRegistry(),
    )
    paths = [getattr(route, "path", None) for route in app.router.routes]
    assert paths.index("/reservations") < min(
        paths.index(own) for own in ("/docs", "/healthz", "/readyz", "/metrics")
    )


@pytest.mark.parametrize(
    ("method", "path", "shadowed"),
    [
        ("GET", "/healthz", "/healthz"),
        ("HEAD", "/{page}", "/healthz"),
        ("GET", "/metrics", "/metrics"),
        ("GET", "/docs-assets/{name}", "/docs-assets/any-file"),
        ("GET", "/{page}", "/docs"),
    ],
)
def test_a_route_that_would_answer_eventfolds_own_path_is_refused(
    tmp_path: Path, token_issuer: TokenIssuer, method: str, path: str, shadowed: str
) -> None:
    router = APIRouter()
    router.add_api_route(path, lambda: {}, methods=[method], dependencies=[PUBLIC])
    with pytest.raises(ConfigurationError) as refused:
        create_app(
            [service_with(router)],
            ServiceContext(SqliteEventStore(tmp_path / "events.db")),
            authentication=token_issuer.authentication,
            metrics=CollectorRegistry(),
        )
    assert str(refused.value) == (
        f"service 'toy': its route {method} {path} would answer eventfold's own {shadowed}; "
        "give it another path"
    )


def test_the_same_path_with_other_methods_is_the_services(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    router = APIRouter()
    router.add_api_route(
        "/healthz", lambda: {"mine": True}, methods=["POST"], dependencies=[PUBLIC]
    )
    app = create_app(
        [service_with(router)],
        ServiceContext(SqliteEventStore(tmp_path / "events.db")),
        authentication=token_issuer.authentication,
    )
    with TestClient(app) as client:
        assert client.post("/healthz").json() == {"mine": True}
        assert client.get("/healthz").json()["status"] == "ok"
