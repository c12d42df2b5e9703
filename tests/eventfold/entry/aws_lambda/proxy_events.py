"""API Gateway proxy events as the AWS documentation shows them (payload 2.0 and 1.0), and
Lambda function URL events (payload 2.0 too)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs


def http_api_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Any = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    binary: bytes | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event; ``path`` as the client sent it (encoded)."""
    text, encoded = _body(body, binary)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "content-type": "application/json",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "test",
            },
            "requestId": "r-1",
            "stage": "$default",
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in parse_qs(query).items()}
    if cookies:
        event["cookies"] = cookies
    if text is not None:
        event["body"] = text
    return event


def function_url_event(
    method: str, path: str, *, query: str = "", body: Any = None
) -> dict[str, Any]:
    """A Lambda function URL event: payload 2.0 as HTTP APIs send it, from the function
    URL's own domain."""
    event = http_api_event(method, path, query=query, body=body)
    domain = "abcdefghijklmnopqrstuvwxyz.lambda-url.us-east-1.on.aws"
    event["headers"]["host"] = domain
    event["requestContext"].update(domainName=domain, domainPrefix=domain.split(".")[0])
    event["requestContext"]["apiId"] = "<urlid>"
    return event


def rest_api_event(
    method: str,
    path: str,
    *,
    query: dict[str, list[str]] | None = None,
    body: Any = None,
    headers: dict[str, list[str]] | None = None,
    binary: bytes | None = None,
) -> dict[str, Any]:
    """A REST API (payload format 1.0) proxy event; ``path`` decoded, as API Gateway sends."""
    text, encoded = _body(body, binary)
    multi = {
        "Host": ["abc123.execute-api.us-east-1.amazonaws.com"],
        "Content-Type": ["application/json"],
        "X-Forwarded-Proto": ["https"],
        **(headers or {}),
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi.items()},
        "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": "/prod" + path,
            "stage": "prod",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def _body(body: Any, binary: bytes | None) -> tuple[str | None, bool]:
    if binary is not None:
        return base64.b64encode(binary).decode(), True
    if body is None:
        return None, False
    return json.dumps(body), False
