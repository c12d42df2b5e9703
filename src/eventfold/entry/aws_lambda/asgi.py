"""The command/query HTTP app behind Amazon API Gateway: proxy events -> ASGI -> responses.

:func:`http_handler` wraps any ASGI app (``eventfold.web.create_app``) as a Lambda handler
for both integrations: HTTP APIs (payload format 2.0: ``rawPath``, ``rawQueryString``,
``cookies``, ``requestContext.http.method``) and REST APIs (payload 1.0: ``httpMethod``,
``path``, ``multiValueHeaders``, ``multiValueQueryStringParameters``). Request bodies
arrive base64-encoded when ``isBase64Encoded``; response bodies go back as text when the
content type is textual (JSON, problem+json, text, XML), else base64.

Each invocation runs the app on a fresh event loop. ASGI lifespan events are not sent:
build the app without background runners (the router runs as its own Lambda function).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

from eventfold.entry.aws_lambda.handlers import LambdaHandler

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TEXTUAL = ("text/", "application/json", "application/problem+json", "application/xml")


class BadProxyEvent(ValueError):
    """The event is not an API Gateway proxy event this adapter understands."""


def http_handler(app: ASGIApp) -> LambdaHandler:
    """A Lambda handler serving ``app`` to API Gateway (HTTP API v2 or REST API v1)."""

    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request = ProxyRequest.of(event)
        scope = request.scope(event, context)
        status, headers, body = asyncio.run(_call(app, scope, request.body))
        return request.response(status, headers, body)

    return handle


class ProxyRequest:
    """One API Gateway proxy request, in either payload format."""

    def __init__(
        self,
        version: int,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> None:
        self.version = version
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.source_ip = source_ip

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> ProxyRequest:
        body = _body(event)
        context = event.get("requestContext") or {}
        if event.get("version") == "2.0":
            http = context.get("http") or {}
            headers = [(k, str(v)) for k, v in (event.get("headers") or {}).items()]
            cookies = event.get("cookies") or []
            if cookies:
                headers.append(("cookie", "; ".join(cookies)))
            return cls(
                2,
                str(http.get("method", "GET")),
                unquote(str(event.get("rawPath", "/"))),
                str(event.get("rawQueryString", "")),
                headers,
                body,
                str(http.get("sourceIp", "")),
            )
        if "httpMethod" in event:
            multi = event.get("multiValueHeaders") or {}
            if multi:
                headers = [(k, str(v)) for k, values in multi.items() for v in values or ()]
            else:
                headers = [(k, str(v)) for k, v in (event.get("headers") or {}).items()]
            params = event.get("multiValueQueryStringParameters") or {
                k: [v] for k, v in (event.get("queryStringParameters") or {}).items()
            }
            query = urlencode([(k, v) for k, values in params.items() for v in values or ()])
            identity = context.get("identity") or {}
            return cls(
                1,
                str(event["httpMethod"]),
                str(event.get("path") or "/"),
                query,
                headers,
                body,
                str(identity.get("sourceIp", "")),
            )
        raise BadProxyEvent(
            "not an API Gateway proxy event: expected payload format 2.0 (version '2.0') or "
            "1.0 (httpMethod); check the integration type"
        )

    def scope(self, event: Mapping[str, Any], context: Any) -> Scope:
        lowered = [(k.lower(), v) for k, v in self.headers]
        host = next((v for k, v in lowered if k == "host"), "lambda")
        port = next((v for k, v in lowered if k == "x-forwarded-port"), "443")
        scheme = next((v for k, v in lowered if k == "x-forwarded-proto"), "https")
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": self.method.upper(),
            "scheme": scheme,
            "path": self.path,
            "raw_path": quote(self.path).encode(),
            "root_path": "",
            "query_string": self.query.encode(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in lowered],
            "client": (self.source_ip, 0),
            "server": (host, int(port) if port.isdigit() else 443),
            "aws.event": event,
            "aws.context": context,
        }

    def response(self, status: int, headers: list[tuple[str, str]], body: bytes) -> dict[str, Any]:
        content_type = next((v for k, v in headers if k == "content-type"), "")
        textual = content_type.startswith(_TEXTUAL) or "+json" in content_type
        try:
            text, encoded = (body.decode(), False) if textual else ("", True)
        except UnicodeDecodeError:
            encoded = True
        if encoded:
            text = base64.b64encode(body).decode("ascii")
        reply: dict[str, Any] = {"statusCode": status, "body": text, "isBase64Encoded": encoded}
        if self.version == 2:
            joined: dict[str, str] = {}
            for name, value in headers:
                if name != "set-cookie":
                    joined[name] = f"{joined[name]}, {value}" if name in joined else value
            reply["headers"] = joined
            reply["cookies"] = [v for k, v in headers if k == "set-cookie"]
        else:
            multi: dict[str, list[str]] = {}
            for name, value in headers:
                multi.setdefault(name, []).append(value)
            reply["multiValueHeaders"] = multi
            reply["headers"] = {k: v[-1] for k, v in multi.items()}
        return reply


def _body(event: Mapping[str, Any]) -> bytes:
    raw = event.get("body")
    if raw is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(raw), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadProxyEvent(f"isBase64Encoded body is not base64: {exc}") from exc
    return str(raw).encode()


async def _call(
    app: ASGIApp, scope: Scope, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run one HTTP request through ``app``; the status, headers and whole body."""
    finished = asyncio.Event()
    delivered = False
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    started = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers, started
        if message["type"] == "http.response.start":
            started = True
            status = int(message["status"])
            headers = [
                (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
                for k, v in message.get("headers", [])
            ]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(scope, receive, send)
    except Exception:
        if started:  # Starlette answers 500 itself, then re-raises for the server to log
            log.exception("the app failed answering %s %s", scope["method"], scope["path"])
            return status, headers, b"".join(chunks)
        log.exception("the app failed before it answered %s %s", scope["method"], scope["path"])
        problem = {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "the service failed unexpectedly; the error is logged",
        }
        content_type = "application/problem+json"
        return 500, [("content-type", content_type)], json.dumps(problem).encode()
    finally:
        finished.set()
    return status, headers, b"".join(chunks)
