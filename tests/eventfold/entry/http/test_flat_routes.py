"""include_routes: a router's routes become the including router's own, with the same
OpenAPI document, answers and dependency overrides as ``include_router`` gives; a router it
cannot copy exactly is included as FastAPI includes it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Query, status
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from eventfold import SqliteEventStore
from eventfold.entry.http import flat_routes
from eventfold.testing import TokenIssuer
from eventfold.web import (
    Caller,
    CommandOrigin,
    FastPathRoute,
    ServiceContext,
    create_app,
    include_routes,
    installed_services,
)


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    quantity: int = Field(ge=1)


class Stored(BaseModel):
    name: str
    quantity: int
    secret: str = "kept out of the answer"


def flavour() -> str:
    return "plain"


def toy_router() -> APIRouter:
    """Routes using most of what an operation can say about itself."""
    routes = APIRouter(tags=["toy"], responses={418: {"description": "A teapot"}})

    @routes.post(
        "/items",
        status_code=status.HTTP_201_CREATED,
        summary="Store an item",
        response_description="The stored item",
        responses={409: {"description": "Already there"}},
        response_model_exclude={"secret"},
        operation_id="store_item",
    )
    async def store(item: Item, kind: Annotated[str, Depends(flavour)]) -> Stored:
        """Stores an item.

        Longer description."""
        return Stored(name=f"{kind}:{item.name}", quantity=item.quantity)

    @routes.get("/items/{name}", deprecated=True, openapi_extra={"x-note": "kept"})
    def read(
        name: str, tag: Annotated[list[str], Query()], x_trace: Annotated[str, Header()]
    ) -> dict[str, Any]:
        return {"name": name, "tag": tag, "trace": x_trace}

    @routes.delete("/items/{name}", include_in_schema=False, status_code=204)
    def forget(name: str) -> None:
        return None

    return routes


def included(how: str) -> FastAPI:
    app = FastAPI()
    if how == "include_router":
        app.include_router(toy_router(), tags=["service"])
    else:
        include_routes(app.router, toy_router(), tags=["service"])
    return app


def test_the_openapi_document_is_the_one_include_router_gives() -> None:
    assert included("include_routes").openapi() == included("include_router").openapi()


def test_the_routes_are_the_including_routers_own() -> None:
    app = included("include_routes")
    copied = app.router.routes[-3:]
    assert [type(route) for route in copied] == [APIRoute] * 3
    assert [r.path for r in copied if isinstance(r, APIRoute)] == ["/items", *["/items/{name}"] * 2]


def test_requests_are_answered_as_include_router_answers_them() -> None:
    def answers(app: FastAPI) -> list[tuple[int, Any]]:
        with TestClient(app) as client:
            sent = [
                client.post("/items", json={"name": "cup", "quantity": 2}),
                client.post("/items", json={"name": "", "quantity": 0}),
                client.get("/items/cup?tag=a&tag=b", headers={"X-Trace": "t-1"}),
                client.get("/items/cup"),
                client.delete("/items/cup"),
                client.put("/items/cup"),
            ]
        return [(r.status_code, r.json() if r.content else None) for r in sent]

    flat = answers(included("include_routes"))
    assert flat == answers(included("include_router"))
    assert flat[0] == (201, {"name": "plain:cup", "quantity": 2})


def test_the_apps_dependency_overrides_reach_the_copied_routes() -> None:
    app = included("include_routes")
    app.dependency_overrides[flavour] = lambda: "overridden"
    with TestClient(app) as client:
        answered = client.post("/items", json={"name": "cup", "quantity": 1})
    assert answered.json()["name"] == "overridden:cup"


def test_a_router_it_cannot_copy_is_included_as_fastapi_includes_it() -> None:
    outer = APIRouter()
    inner = APIRouter()

    @inner.get("/inner")
    def inner_route() -> dict[str, str]:
        return {"from": "inner"}

    outer.include_router(inner)
    ran: list[str] = []
    with_startup = APIRouter(on_startup=[lambda: ran.append("startup")])

    @with_startup.get("/started")
    def started() -> dict[str, str]:
        return {"from": "started"}

    app = FastAPI()
    include_routes(app.router, outer)
    include_routes(app.router, with_startup)
    with TestClient(app) as client:
        assert ran  # a copy of its routes alone would have lost the handler
        assert client.get("/inner").json() == {"from": "inner"}
        assert client.get("/started").json() == {"from": "started"}


def test_an_option_the_routes_do_not_keep_makes_it_include_the_router(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A FastAPI whose add_api_route takes an option its routes do not keep under that
    name: the router is included as FastAPI includes it, nothing is dropped."""
    monkeypatch.setattr(flat_routes, "_OPTIONS", (*flat_routes._OPTIONS, "a_future_option"))
    app = included("include_routes")
    assert not any(isinstance(route, APIRoute) for route in app.router.routes)
    with TestClient(app) as client:
        assert client.post("/items", json={"name": "cup", "quantity": 1}).status_code == 201


def test_the_fast_path_survives_the_copy() -> None:
    routes = APIRouter(route_class=FastPathRoute)

    @routes.post("/things", status_code=201)
    async def make(item: Item, origin: CommandOrigin) -> dict[str, str]:
        return {"name": item.name}

    @routes.get("/things/{name}")
    async def look(name: str, caller: Caller) -> dict[str, str]:
        return {"name": name}

    app = FastAPI()
    include_routes(app.router, routes)
    copied = [route for route in app.router.routes if isinstance(route, FastPathRoute)]
    assert [route.path for route in copied] == ["/things", "/things/{name}"]
    assert all(route.fast_path for route in copied)


def test_every_service_route_is_the_apps_own(tmp_path: Path, token_issuer: TokenIssuer) -> None:
    """The reference services join their command and query routers with include_routes, so
    the app matches a request once, against its own route list."""
    app = create_app(
        installed_services(),
        ServiceContext(SqliteEventStore(tmp_path / "events.db")),
        authentication=token_issuer.authentication,
    )
    paths = {route.path for route in app.router.routes if isinstance(route, APIRoute)}
    assert {"/reservations", "/reservations/{reservation_id}", "/backoffice/reservations"} <= paths
