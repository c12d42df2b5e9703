"""The app's middleware stack (ServiceApp) and its table of literal paths (LiteralRoutes):
every request still reaches the route FastAPI's router would have chosen."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from eventfold.entry.http.stack import ServiceApp, literal_table


def app_with(*build: Any) -> ServiceApp:
    app = ServiceApp()
    for add in build:
        add(app)
    return app


def item_by_id(app: FastAPI) -> None:
    @app.get("/items/{item_id}")
    async def by_id(item_id: str) -> dict[str, str]:
        return {"route": "by id", "item_id": item_id}


def my_items(app: FastAPI) -> None:
    @app.get("/items/mine")
    async def mine() -> dict[str, str]:
        return {"route": "mine"}


def post_items(app: FastAPI) -> None:
    @app.post("/items")
    async def create() -> dict[str, str]:
        return {"route": "create"}


def list_items(app: FastAPI) -> None:
    @app.get("/items")
    async def listing() -> dict[str, str]:
        return {"route": "list"}


def test_a_literal_path_an_earlier_route_would_take_stays_with_that_route() -> None:
    app = app_with(item_by_id, my_items)
    assert ("GET", "/items/mine") not in literal_table(app.router.routes)
    with TestClient(app) as client:
        assert client.get("/items/mine").json() == {"route": "by id", "item_id": "mine"}


def test_a_literal_path_goes_to_its_route_by_method() -> None:
    app = app_with(my_items, item_by_id, post_items, list_items)
    table = literal_table(app.router.routes)
    assert {key for key in table if key[1].startswith("/items")} == {
        ("GET", "/items/mine"),
        ("POST", "/items"),
        ("GET", "/items"),
    }
    with TestClient(app) as client:
        assert client.get("/items/mine").json() == {"route": "mine"}
        assert client.post("/items").json() == {"route": "create"}
        assert client.get("/items").json() == {"route": "list"}
        refused = client.put("/items")  # no route has PUT: the router's 405
        assert refused.status_code == 405
        assert "POST" in refused.headers["allow"]


def test_a_mount_before_a_literal_path_keeps_the_paths_under_it() -> None:
    inner = FastAPI()

    @inner.get("/mine")
    async def mounted() -> dict[str, str]:
        return {"route": "mounted"}

    app = ServiceApp()
    app.router.routes.append(Mount("/items", app=inner))
    my_items(app)
    assert ("GET", "/items/mine") not in literal_table(app.router.routes)
    with TestClient(app) as client:
        assert client.get("/items/mine").json() == {"route": "mounted"}


def test_a_route_put_first_after_the_first_request_takes_its_paths() -> None:
    app = app_with(list_items)
    with TestClient(app) as client:
        assert client.get("/items").json() == {"route": "list"}

        @app.get("/{anything}")
        async def catch_all(anything: str) -> dict[str, str]:
            return {"route": "catch all"}

        app.router.routes.insert(0, app.router.routes.pop())
        assert client.get("/items").json() == {"route": "catch all"}


def test_an_app_in_debug_mode_keeps_fastapi_s_stack() -> None:
    app = ServiceApp(debug=True)

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/fail")
    assert response.status_code == 500
    assert "RuntimeError" in response.text  # the debug page's traceback
