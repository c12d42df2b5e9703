"""FastPathRoute: the fast path answers exactly as FastAPI's handler does, for every
request, and is taken only where it covers the route's shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import urlencode

import pytest
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Query,
    Request,
    Response,
    status,
)
from fastapi import Path as PathParam
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.types import Message

from eventfold import Actor, SqliteEventStore
from eventfold.entry.http.callers import authenticated
from eventfold.errors import RuleViolated, StreamNotFound
from eventfold.testing import TokenIssuer
from eventfold.web import (
    PUBLIC,
    Caller,
    CommandOrigin,
    FastPathRoute,
    JsonInt,
    Service,
    ServiceContext,
    create_app,
    installed_services,
)
from tests.examples.callers import shared_issuer

Id = Annotated[str, PathParam(min_length=2, max_length=12, pattern=r"^[a-z0-9-]+$")]


class Order(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    sku: str = Field(min_length=1, max_length=10)
    quantity: JsonInt = Field(ge=1, le=99)
    note: str | None = None


class Placed(BaseModel):
    order_id: str
    subject: str
    sku: str
    quantity: int
    key: str | None


class Version(BaseModel):
    version: int


class Page(BaseModel):
    subject: str
    store_id: str
    status: str | None
    limit: int
    since: str | None
    cursor: str | None


def toy_routes(route_class: type[APIRoute]) -> APIRouter:
    """Command routes of every shape the fast path covers, answering what they were given
    (and refusing quantity 13 as a conflict, so errors raised by a route are compared too)."""
    routes = APIRouter(route_class=route_class)

    @routes.post("/orders", status_code=status.HTTP_201_CREATED, response_model=Placed)
    async def place(body: Order, origin: CommandOrigin) -> Placed:
        if body.quantity == 13:
            raise RuleViolated("thirteen is not sold here")
        if body.quantity == 66:
            raise LookupError("a bug of the route's: no handler takes it")
        assert origin.actor is not None
        return Placed(
            order_id="o-1",
            subject=origin.actor.subject,
            sku=body.sku,
            quantity=body.quantity,
            key=origin.idempotency_key,
        )

    @routes.post("/orders/{order_id}/lines/{sku}", response_model=Version)
    async def add_line(order_id: Id, sku: Id, body: Order, origin: CommandOrigin) -> Version:
        return Version(version=len(order_id) + len(sku) + body.quantity)

    @routes.post("/orders/{order_id}/close", response_model=Version)
    async def close(order_id: Id, origin: CommandOrigin) -> Version:
        return Version(version=len(order_id))

    # Shapes it does not cover: FastAPI's handler only.
    @routes.post("/orders/{order_id}/note", response_model=Version)
    async def note(order_id: Id, actor: Caller, tag: Annotated[str, Header()]) -> Version:
        return Version(version=len(tag))

    @routes.post("/orders/{order_id}/raw", response_model=Version)
    async def raw(order_id: Id, request: Request, origin: CommandOrigin) -> Version:
        return Version(version=len(await request.body()))

    @routes.get("/orders/{order_id}/notes", response_model=Version)
    async def notes(order_id: Id, tag: Annotated[list[str], Query()]) -> Version:
        return Version(version=len(tag))

    # Reads: the caller, path and query parameters (aliases, defaults, None), a Response.
    @routes.get("/stores/{store_id}/orders", response_model=Page)
    async def store_orders(
        store_id: Id,
        caller: Caller,
        status: Annotated[Literal["open", "closed"] | None, Query()] = None,
        limit: Annotated[JsonInt, Query(ge=1, le=200)] = 50,
        since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        cursor: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        page = Page(
            subject=caller.subject,
            store_id=store_id,
            status=status,
            limit=limit,
            since=since.isoformat() if since else None,
            cursor=cursor,
        )
        return Response(page.model_dump_json(), media_type="application/json")

    @routes.get("/stock/{sku}", response_model=Version, dependencies=[PUBLIC])
    async def stock(sku: Id, min_version: Annotated[int | None, Query(ge=1)] = None) -> Version:
        if sku == "gone":
            raise StreamNotFound("stock-gone")
        return Version(version=min_version or len(sku))

    @routes.get("/stock/{sku}/count", response_model=Version, dependencies=[PUBLIC])
    async def count(sku: Id, unit: Annotated[str, Query(min_length=1)]) -> Version:
        return Version(version=len(unit))

    return routes


def toy_app(route_class: type[APIRoute], store: SqliteEventStore, issuer: TokenIssuer) -> Any:
    service = Service(
        name="toy",
        codec=installed_services(["reservations"])[0].codec,
        categories=("toy",),
        routes=lambda context: toy_routes(route_class),
    )
    return create_app([service], ServiceContext(store), authentication=issuer.authentication)


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, TestClient]]:
    issuer = shared_issuer()
    store = SqliteEventStore(Path(tmp_path_factory.mktemp("toy")) / "events.db")
    fast = TestClient(toy_app(FastPathRoute, store, issuer), raise_server_exceptions=False)
    plain = TestClient(toy_app(APIRoute, store, issuer), raise_server_exceptions=False)
    yield fast, plain
    fast.close()
    plain.close()


def routes_of(app: Any) -> list[APIRoute]:
    """The app's routes, from every router included at any depth."""
    found: list[APIRoute] = []

    def visit(routes: list[Any]) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                visit(original.routes)
            elif isinstance(route, APIRoute):
                found.append(route)

    visit(app.router.routes)
    return found


def test_the_fast_path_is_taken_only_where_it_covers_the_shape(
    clients: tuple[TestClient, TestClient],
) -> None:
    fast, _ = clients
    taken = {route.path for route in routes_of(fast.app) if getattr(route, "fast_path", False)}
    assert taken == {
        "/orders",
        "/orders/{order_id}/lines/{sku}",
        "/orders/{order_id}/close",
        "/stores/{store_id}/orders",
        "/stock/{sku}",
        "/stock/{sku}/count",
    }


def test_every_route_of_the_reservation_service_takes_it(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    store = SqliteEventStore(tmp_path / "events.db")
    app = create_app(
        installed_services(["reservations"]),
        ServiceContext(store),
        authentication=token_issuer.authentication,
    )
    routes = [route for route in routes_of(app) if isinstance(route, FastPathRoute)]
    assert {r.path for r in routes} >= {
        "/reservations",
        "/stores/{store_id}/stock/{sku}",
        "/reservations/{reservation_id}",
        "/stores/{store_id}/reservations",
        "/backoffice/reservations",
    }
    assert all(r.fast_path for r in routes), [r.path for r in routes if not r.fast_path]


def answer(
    client: TestClient, path: str, body: Any, headers: dict[str, str], method: str = "GET"
) -> tuple[Any, ...]:
    """POST ``body`` (JSON, or bytes as they are) to ``path``; when ``body`` is None, ask
    with ``method``. Status, type and content, then every header the app sent but the
    server's ``date``."""
    if body is None:
        response = client.request(method, path, headers=headers)
    else:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = client.post(path, content=content, headers=headers)
    sent = sorted((k, v) for k, v in response.headers.multi_items() if k != "date")
    return response.status_code, response.headers.get("content-type"), response.content, sent


def headers_for(
    issuer: TokenIssuer, auth: str, content_type: str | None, key: str | None
) -> dict[str, str]:
    headers: dict[str, str] = {}
    if auth == "valid":
        headers.update(issuer.headers("u-1", "customer"))
    elif auth == "garbage":
        headers["Authorization"] = "Bearer not-a-token"
    elif auth == "basic":
        headers["Authorization"] = "Basic dTpw"
    if content_type is not None:
        headers["Content-Type"] = content_type
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 120)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
order_like = st.fixed_dictionaries(
    {
        "sku": st.text(max_size=12) | st.integers(),
        "quantity": st.integers(-2, 120) | st.floats(0, 120),
    },
    optional={"note": st.none() | st.text(max_size=4) | st.integers(), "extra": json_values},
)


valid_orders = st.fixed_dictionaries(
    {"sku": st.text("abc-", min_size=1, max_size=10), "quantity": st.integers(1, 99)},
    optional={"note": st.none() | st.text(max_size=4)},
)


class Sent(NamedTuple):
    """One request: POSTed ``body`` (GET when None), the token (see :func:`headers_for`),
    the Content-Type and the Idempotency-Key (None: no such header)."""

    path: str
    body: Any
    auth: str
    content_type: str | None = None
    key: str | None = None


VALID = {"sku": "a", "quantity": 2}
CASES = [  # (path, body, auth, content type, Idempotency-Key): one per reason to fall back
    ("/orders", VALID, "valid", "application/json", None),
    ("/orders", {"sku": "a", "quantity": 13}, "valid", "application/json", None),
    ("/orders", {"sku": "a", "quantity": 66}, "valid", "application/json", None),
    ("/orders", VALID, "valid", "application/json", "k-1"),
    ("/orders", VALID, "valid", "application/json", ""),
    ("/orders", VALID, "none", "application/json", None),
    ("/orders", VALID, "garbage", "application/json", None),
    ("/orders", VALID, "basic", "application/json", None),
    ("/orders", VALID, "valid", "text/plain", None),
    ("/orders", VALID, "valid", None, None),
    ("/orders", VALID, "valid", "application/json; charset=utf-8", None),
    ("/orders", {"sku": "a", "quantity": "2"}, "valid", "application/json", None),
    ("/orders", {"sku": "a", "quantity": 2.0}, "valid", "application/json", None),
    ("/orders", {**VALID, "extra": 1}, "valid", "application/json", None),
    ("/orders", [VALID], "valid", "application/json", None),
    ("/orders", b"{", "valid", "application/json", None),
    ("/orders", b"", "valid", "application/json", None),
    ("/orders", b"NaN", "valid", "application/json", None),
    ("/orders", {"sku": "", "quantity": 0}, "none", "application/json", "x" * 201),
    ("/orders/ab-1/lines/sku-9", VALID, "valid", "application/json", None),
    ("/orders/A!/lines/sku-9", VALID, "valid", "application/json", None),
    ("/orders/ab-1/lines/x", {"sku": 1}, "valid", "application/json", None),
    ("/orders/ab/close", b"", "valid", None, None),
    ("/orders/x/close", b"", "valid", None, None),
    ("/orders/ab/close", b"", "none", None, None),
    ("/orders/ab/note", b"", "valid", None, None),
    ("/orders/ab-1/raw", VALID, "valid", "application/json", None),
    ("/orders/ab/notes?tag=x&tag=y", None, "valid", None, None),
    ("/stores/s-1/orders", None, "valid", None, None),
    ("/stores/s-1/orders", None, "none", None, None),
    ("/stores/s-1/orders", None, "garbage", None, None),
    ("/stores/s-1/orders", None, "valid", None, "k-1"),
    ("/stores/S!/orders", None, "valid", None, None),
    (
        "/stores/s-1/orders?status=open&limit=3&from=2026-01-02T03:04:05Z&cursor=c",
        None,
        "valid",
        None,
        None,
    ),
    ("/stores/s-1/orders?status=shut", None, "valid", None, None),
    ("/stores/s-1/orders?limit=0", None, "valid", None, None),
    ("/stores/s-1/orders?limit=", None, "valid", None, None),
    ("/stores/s-1/orders?limit=2.0&limit=7", None, "valid", None, None),
    ("/stores/s-1/orders?from=yesterday", None, "valid", None, None),
    ("/stores/s-1/orders?from=2026-01-02T03:04:05", None, "valid", None, None),
    ("/stores/s-1/orders?cursor=123456789", None, "valid", None, None),
    ("/stores/s-1/orders?unknown=1", None, "valid", None, None),
    ("/stock/ab", None, "none", None, None),
    ("/stock/ab?min_version=3", None, "garbage", None, None),
    ("/stock/ab?min_version=0", None, "none", None, None),
    ("/stock/gone", None, "none", None, None),
    ("/stock/ab", None, "valid", None, None),
    ("/stock/ab/count", None, "none", None, None),
    ("/stock/ab/count?unit=", None, "none", None, None),
    ("/stock/ab/count?unit=kg", None, "none", None, None),
]


def assert_answered_alike(clients: tuple[TestClient, TestClient], sent: Sent) -> None:
    """The app with the fast path and the one without answer the request alike."""
    fast, plain = clients
    headers = headers_for(shared_issuer(), sent.auth, sent.content_type, sent.key)
    fast_answer = answer(fast, sent.path, sent.body, headers)
    assert fast_answer == answer(plain, sent.path, sent.body, headers)


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(map(str, case))[:80])
def test_both_paths_answer_each_kind_of_request_the_same(
    clients: tuple[TestClient, TestClient], case: tuple[Any, ...]
) -> None:
    assert_answered_alike(clients, Sent(*case))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sent=st.builds(
        Sent,
        path=st.sampled_from(
            ["/orders", "/orders/ab-1/lines/sku-9", "/orders/A!/lines/x", "/orders/ab/close"]
        ),
        body=valid_orders | order_like | json_values | st.sampled_from([b"", b"{", b"[1,]"]),
        auth=st.sampled_from(["valid", "valid", "valid", "none", "garbage"]),
        content_type=st.sampled_from(["application/json", "application/json", "text/plain", None]),
        key=st.none() | st.sampled_from(["k-1", ""]),
    )
)
def test_both_paths_answer_every_request_the_same(
    clients: tuple[TestClient, TestClient], sent: Sent
) -> None:
    assert_answered_alike(clients, sent)


query_values = (
    st.text(max_size=6)
    | st.integers(-3, 300).map(str)
    | st.sampled_from(
        ["open", "closed", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05+09:00", "1.0", ""]
    )
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    store=st.sampled_from(["s-1", "s-2", "S!", "x"]),
    query=st.lists(
        st.tuples(st.sampled_from(["status", "limit", "from", "cursor", "other"]), query_values),
        max_size=4,
    ),
    auth=st.sampled_from(["valid", "valid", "none", "garbage"]),
)
def test_both_paths_answer_every_read_the_same(
    clients: tuple[TestClient, TestClient], store: str, query: list[tuple[str, str]], auth: str
) -> None:
    assert_answered_alike(clients, Sent(f"/stores/{store}/orders?{urlencode(query)}", None, auth))


def test_a_well_formed_command_is_answered_with_what_the_route_returned(
    clients: tuple[TestClient, TestClient],
) -> None:
    fast, _ = clients
    headers = headers_for(shared_issuer(), "valid", "application/json", None)
    status_code, content_type, content, _ = answer(
        fast, "/orders", {"sku": "a", "quantity": 2}, headers
    )
    assert (status_code, content_type) == (201, "application/json")
    assert json.loads(content) == {
        "order_id": "o-1",
        "subject": "u-1",
        "sku": "a",
        "quantity": 2,
        "key": None,
    }
    status_code, _, content, _ = answer(fast, "/orders", {"sku": "a", "quantity": 13}, headers)
    assert status_code == 409
    assert b"thirteen" in content


def test_a_dependency_override_is_honoured(tmp_path: Path) -> None:
    """A test that overrides who calls gets FastAPI's handler, which applies the override."""
    issuer = shared_issuer()
    store = SqliteEventStore(tmp_path / "events.db")
    app = toy_app(FastPathRoute, store, issuer)
    app.dependency_overrides[authenticated] = lambda: Actor.of("stand-in", {"customer"})
    with TestClient(app) as client:
        answered = client.post("/orders", json=VALID, headers=issuer.headers("u-1", "customer"))
    assert answered.status_code == 201
    assert answered.json()["subject"] == "stand-in"


def asgi_answer(app: Any, chunks: list[bytes], token: str) -> tuple[int, bytes]:
    """POST /orders to ``app`` by its ASGI callable, the body in ``chunks`` (one message
    each, no Content-Length): the status and the body answered."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/orders",
        "raw_path": b"/orders",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(10)  # a client that sent everything waits for its answer
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize(
    ("chunks", "status_code"),
    [
        ([b'{"sku": "a", ', b'"quantity": 2', b"}"], 201),
        ([b'{"sku": "a", ', b'"quantity": 0}'], 422),
        ([b'{"sku": ', b"[1,]"], 422),
    ],
    ids=["valid", "invalid", "not json"],
)
def test_a_body_sent_in_chunks_is_read_whole_on_both_paths(
    clients: tuple[TestClient, TestClient], chunks: list[bytes], status_code: int
) -> None:
    # The body comes in several messages, and is given again, whole, to FastAPI's handler
    # when the fast path hands an invalid one over.
    fast, plain = clients
    token = headers_for(shared_issuer(), "valid", None, None)["Authorization"].split()[1]
    fast_answer = asgi_answer(fast.app, chunks, token)
    assert fast_answer == asgi_answer(plain.app, chunks, token)
    assert fast_answer[0] == status_code


@pytest.mark.parametrize("method", ["HEAD", "DELETE"])
def test_a_method_the_route_does_not_take_is_refused_alike(
    clients: tuple[TestClient, TestClient], method: str
) -> None:
    fast, plain = clients
    headers = headers_for(shared_issuer(), "none", None, None)
    fast_answer = answer(fast, "/stock/ab", None, headers, method=method)
    assert fast_answer == answer(plain, "/stock/ab", None, headers, method=method)
    assert fast_answer[0] == 405


def test_a_route_of_an_included_router_keeps_what_the_inclusion_adds() -> None:
    """Included with FastAPI's ``include_router``, a route is called with the inclusion's
    own settings (here a dependency that refuses everyone): FastAPI's handler answers it."""

    def refuse() -> None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the inclusion refuses")

    issuer = shared_issuer()
    app = FastAPI()
    app.state.authentication = issuer.authentication
    app.include_router(toy_routes(FastPathRoute), dependencies=[Depends(refuse)])
    headers = headers_for(issuer, "valid", "application/json", None)
    with TestClient(app) as client:
        refused = client.post("/orders", json=VALID, headers=headers)
    assert (refused.status_code, refused.json()) == (403, {"detail": "the inclusion refuses"})


def test_a_route_with_its_own_body_limit_refuses_a_larger_body() -> None:
    issuer = shared_issuer()

    async def small(body: Order, origin: CommandOrigin) -> Version:
        return Version(version=body.quantity)

    app = FastAPI()
    app.state.authentication = issuer.authentication
    app.router.add_api_route(
        "/small",
        small,
        methods=["POST"],
        response_model=Version,
        max_body_size=40,
        route_class_override=FastPathRoute,
    )
    headers = headers_for(issuer, "valid", "application/json", None)
    with TestClient(app) as client:
        fits = client.post("/small", json=VALID, headers=headers)
        too_large = client.post("/small", json={**VALID, "note": "x" * 40}, headers=headers)
    assert (fits.status_code, too_large.status_code) == (200, 413)
