"""The ids of an HTTP request on every line logged while it is handled."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

import structlog
from starlette.types import Scope

COMMAND_ID_HEADER = b"idempotency-key"
"""The header routes pass on as the command id (``IDEMPOTENCY_KEY_HEADER``, lower-cased as
ASGI servers hand headers over)."""
REQUEST_ID_HEADER = b"x-request-id"


def bind_request_ids(scope: Scope) -> Mapping[str, contextvars.Token[Any]]:
    """Bind the request's ``method``, ``path``, ``command_id`` (the Idempotency-Key header)
    and ``request_id`` (the X-Request-Id header, else API Gateway's
    ``requestContext.requestId``) to every line logged until
    ``structlog.contextvars.reset_contextvars(**tokens)`` with the tokens returned, by any
    logger (``structlog.contextvars``; a route running in a thread pool inherits them)."""
    fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"]}
    for name, value in scope["headers"]:
        if name == COMMAND_ID_HEADER:
            fields["command_id"] = value.decode("latin-1")
        elif name == REQUEST_ID_HEADER:
            fields["request_id"] = value.decode("latin-1")
    if "request_id" not in fields:
        gateway_id = _gateway_request_id(scope.get("aws.event"))
        if gateway_id:
            fields["request_id"] = gateway_id
    # bind/reset rather than bound_contextvars(): the same, without a generator-based
    # context manager around every request (4.6 -> 1.9 us a request).
    return structlog.contextvars.bind_contextvars(**fields)


def _gateway_request_id(event: Any) -> str | None:
    """API Gateway's id of the request, when the app runs behind it (mangum's scope)."""
    if not isinstance(event, Mapping):
        return None
    context = event.get("requestContext")
    request_id = context.get("requestId") if isinstance(context, Mapping) else None
    return str(request_id) if request_id else None
