"""The API Gateway -> ASGI handler (mangum): request and response mechanics on a small app
for REST APIs, HTTP APIs and function URLs, then the reservation service's command and
query routes through it (SQLite store, the router run by the DynamoDB Streams Lambda
handler in between)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Cookie, FastAPI, Header, Query, Request, Response

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.entry.aws_lambda import BadProxyEvent, http_handler, router_handlers
from eventfold.entry.http.callers import Authentication, ClaimNames
from eventfold.errors import Unauthenticated
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, migrate_query_model
from reservations.service import service
from tests.eventfold.adapters.aws.change_records import dynamodb_stream_event
from tests.eventfold.entry.aws_lambda.proxy_events import (
    function_url_event,
    http_api_event,
    rest_api_event,
)
from tests.examples.callers import every_role


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo/{name}")
    async def echo(
        name: str,
        request: Request,
        tag: Annotated[list[str], Query()],
        session: Annotated[str | None, Cookie()] = None,
        x_trace: Annotated[str | None, Header()] = None,
    ) -> Response:
        body = await request.body()
        reply = {
            "name": name,
            "path": request.url.path,
            "tags": tag,
            "session": session,
            "trace": x_trace,
            "body": base64.b64encode(body).decode(),
            "client": request.client.host if request.client else None,
            "scheme": request.url.scheme,
        }
        response = Response(json.dumps(reply), media_type="application/json", status_code=202)
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @app.get("/binary")
    def binary() -> Response:
        return Response(b"\x00\xffPNG", media_type="image/png")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    return app


def test_an_http_api_request_reaches_the_app_whole() -> None:
    handle = http_handler(echo_app())
    event = http_api_event(
        "POST",
        "/echo/caf%C3%A9",
        query="tag=x&tag=y",
        headers={"x-trace": "t-1"},
        cookies=["session=s-1", "other=o"],
        binary=b"\x00\x01raw",
    )
    response = handle(event, None)
    assert response["statusCode"] == 202
    assert response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/json"
    assert sorted(c.split(";")[0] for c in response["cookies"]) == ["a=1", "b=2"]
    assert "set-cookie" not in response["headers"]
    reply = json.loads(response["body"])
    assert reply == {
        "name": "café",
        "path": "/echo/café",
        "tags": ["x", "y"],
        "session": "s-1",
        "trace": "t-1",
        "body": base64.b64encode(b"\x00\x01raw").decode(),
        "client": "203.0.113.9",
        "scheme": "https",
    }


def test_a_rest_api_request_reaches_the_app_whole() -> None:
    handle = http_handler(echo_app())
    event = rest_api_event(
        "POST",
        "/echo/café",
        query={"tag": ["x", "y z"]},
        headers={"Cookie": ["session=s-2"], "X-Trace": ["t-2"]},
        body={"hello": "world"},
    )
    response = handle(event, None)
    assert response["statusCode"] == 202
    reply = json.loads(response["body"])
    assert (reply["name"], reply["tags"], reply["session"], reply["trace"]) == (
        "café",
        ["x", "y z"],
        "s-2",
        "t-2",
    )
    assert base64.b64decode(reply["body"]) == b'{"hello": "world"}'
    cookies = response["multiValueHeaders"]["set-cookie"]
    assert sorted(c.split(";")[0] for c in cookies) == ["a=1", "b=2"]


@pytest.mark.parametrize("shape", ["v2", "v1"])
def test_binary_responses_go_back_base64(shape: str) -> None:
    event = http_api_event("GET", "/binary") if shape == "v2" else rest_api_event("GET", "/binary")
    response = http_handler(echo_app())(event, None)
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\x00\xffPNG"


def test_an_app_crash_is_a_500() -> None:
    response = http_handler(echo_app())(http_api_event("GET", "/boom"), None)
    assert response["statusCode"] == 500


def test_an_app_that_fails_before_answering_is_a_500_and_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("no answer")

    response = http_handler(broken)(rest_api_event("GET", "/"), None)
    assert response["statusCode"] == 500
    [line] = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if "no answer" in ln]
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]


def test_a_function_url_request_reaches_the_app_whole() -> None:
    handle = http_handler(echo_app())
    response = handle(function_url_event("POST", "/echo/x", query="tag=a", body=[1]), None)
    assert response["statusCode"] == 202, response
    reply = json.loads(response["body"])
    assert (reply["name"], reply["tags"], base64.b64decode(reply["body"])) == ("x", ["a"], b"[1]")
    assert sorted(c.split(";")[0] for c in response["cookies"]) == ["a=1", "b=2"]


@pytest.mark.parametrize("shape", ["v2", "v1", "url"])
def test_a_route_sees_the_raw_lambda_event_and_its_authorizer_claims(shape: str) -> None:
    """The contract of authorization on Lambda: API Gateway's JWT authorizer puts the
    token's claims in the event, and a route (or dependency) reads them from the scope."""
    app = FastAPI()

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, Any]:
        claims: dict[str, Any] = request.scope["aws.event"]["requestContext"]["authorizer"]["jwt"][
            "claims"
        ]
        return {"sub": claims["sub"], "lambda_context": request.scope["aws.context"]}

    event = {
        "v2": lambda: http_api_event("GET", "/whoami"),
        "v1": lambda: rest_api_event("GET", "/whoami"),
        "url": lambda: function_url_event("GET", "/whoami"),
    }[shape]()
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "user-7"}, "scopes": []}}
    response = http_handler(app)(event, "the-context")
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"sub": "user-7", "lambda_context": "the-context"}


def test_an_event_that_is_not_a_proxy_event_is_refused() -> None:
    with pytest.raises(BadProxyEvent, match=r"payload format 2\.0"):
        http_handler(echo_app())({"Records": []}, None)


# -- the reservation service behind API Gateway --------------------------------------------
def problem(response: dict[str, Any], status: int) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["content-type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_reservations_behind_api_gateway(
    store: SqliteEventStore, tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    context = ServiceContext(store)
    migrate_query_model([service], context)  # the deploy step `eventfold migrate`
    app = create_app([service], context, authentication=token_issuer.authentication)
    lambda_handler = http_handler(app)
    bearer = every_role(token_issuer)

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        event["headers"] = {**(event.get("headers") or {}), **bearer}
        if "multiValueHeaders" in event:
            multi = event["multiValueHeaders"] or {}
            event["multiValueHeaders"] = {**multi, **{k: [v] for k, v in bearer.items()}}
        return lambda_handler(event, context)

    stock = handle(http_api_event("PUT", "/stores/s1/stock/sku1", body={"on_hand": 5}), None)
    assert stock["statusCode"] == 200, stock["body"]

    request = {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": 2}
    created = handle(http_api_event("POST", "/reservations", body=request), None)
    assert created["statusCode"] == 201, created["body"]
    placed = json.loads(created["body"])
    assert placed["version"] == 1

    invalid = {"customer_id": "", "store_id": "s1", "sku": "sku1", "quantity": 0}
    refused = problem(handle(rest_api_event("POST", "/reservations", body=invalid), None), 422)
    assert len(refused["issues"]) == 2  # every issue at once: customer_id and quantity

    # the router's own Lambda updates the query model from the table's stream
    state = SqliteRouterState(tmp_path / "router.db")
    router = router_handlers(service.subscriptions(context), store, versions=state, parking=state)
    stream_event = dynamodb_stream_event(store.read_all(0, 100))
    assert router.dynamodb_stream(stream_event, None) == {"batchItemFailures": []}

    path = f"/reservations/{placed['reservation_id']}"
    found = handle(rest_api_event("GET", path, query={"min_version": ["1"]}), None)
    assert found["statusCode"] == 200, found["body"]
    assert json.loads(found["body"])["quantity"] == 2
    missing = problem(handle(http_api_event("GET", "/reservations/nope"), None), 404)
    assert missing["status"] == 404


def test_behind_a_jwt_authorizer_the_gateways_claims_are_the_caller(
    store: SqliteEventStore,
) -> None:
    # No bearer token reaches the function: API Gateway verified it and passes the claims
    # (a list claim rendered as "[a b]"); the app must not verify again, nor refuse.
    def no_local_tokens(token: str) -> dict[str, Any]:
        raise Unauthenticated("a token reached the function")

    context = ServiceContext(store)
    migrate_query_model([service], context)
    claims = ClaimNames(roles="cognito:groups", stores="custom:stores")
    app = create_app([service], context, authentication=Authentication(no_local_tokens, claims))
    handle = http_handler(app)

    def as_gateway(method: str, path: str, groups: str, body: Any = None) -> dict[str, Any]:
        event = http_api_event(method, path, body=body)
        jwt_claims = {"sub": "feed-1", "cognito:groups": groups, "custom:stores": "[s1]"}
        event["requestContext"]["authorizer"] = {"jwt": {"claims": jwt_claims, "scopes": None}}
        return handle(event, None)

    stocked = as_gateway("PUT", "/stores/s1/stock/sku1", "[inventory]", {"on_hand": 5})
    assert stocked["statusCode"] == 200, stocked["body"]
    refused = as_gateway("GET", "/backoffice/reservations", "[inventory staff]")
    assert refused["statusCode"] == 403, refused["body"]
    anonymous = handle(http_api_event("GET", "/backoffice/reservations"), None)
    assert anonymous["statusCode"] == 401
