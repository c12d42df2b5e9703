"""The command/query HTTP app behind Amazon API Gateway: proxy events -> ASGI -> responses.

:func:`http_handler` serves any ASGI app (``eventfold.web.create_app``) with mangum, for
HTTP APIs (payload format 2.0), Lambda function URLs (the same format), REST APIs (payload
1.0) and Application Load Balancers. mangum decodes base64 bodies, joins
``multiValueHeaders`` and ``multiValueQueryStringParameters`` (1.0) and ``cookies`` (2.0),
and answers ``Set-Cookie`` as ``cookies`` (2.0) or ``multiValueHeaders`` (1.0).

The raw Lambda event and context are in the ASGI scope as ``scope["aws.event"]`` and
``scope["aws.context"]``: a dependency reads an API Gateway authorizer's claims from
``request.scope["aws.event"]["requestContext"]["authorizer"]``.

Where eventfold sets mangum up differently from its defaults, and why (each checked by
``tests/eventfold/entry/aws_lambda/test_asgi.py``):

- ``application/problem+json`` (and any ``+json`` / ``+xml``) answers go back as text:
  mangum's text types are matched as substrings, and ``application/json`` is not one of
  ``application/problem+json``, so every error would reach the client base64-encoded.
- ASGI lifespan is off by default: mangum runs startup and shutdown around *each*
  invocation. Build the app without background runners (the router is its own function).
- mangum's line per request (``mangum.http``, INFO) is off unless ``access_log``, like
  ``EVENTFOLD_ACCESS_LOG`` for ``eventfold run``: API Gateway logs requests itself.
- An app that raises before answering is a 500 ``text/plain`` from mangum, logged with its
  traceback; the app :func:`~eventfold.web.create_app` builds answers such failures as
  problem+json itself.

The home-made adapter this replaces did two things mangum does not: it refused a body
marked base64 that was not (API Gateway never sends one), and it named a non-proxy event a
:class:`BadProxyEvent` (kept here). No measured reason to keep it remained.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Literal

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.types import ASGI

from eventfold.entry.aws_lambda.invocations import (
    LambdaHandler,
    configure_lambda_logging,
    logged_invocations,
)

TEXT_MIME_TYPES = [*DEFAULT_TEXT_MIME_TYPES, "+json", "+xml"]
"""Content types answered as text (substrings, as mangum matches them); others base64."""


class BadProxyEvent(ValueError):
    """The event is not an HTTP event (API Gateway, function URL, ALB) mangum understands."""


def http_handler(
    app: ASGI,
    *,
    lifespan: Literal["auto", "on", "off"] = "off",
    access_log: bool = False,
) -> LambdaHandler:
    """A Lambda handler serving ``app`` to API Gateway (HTTP API 2.0, REST API 1.0), a
    function URL or an ALB; ``lifespan``: mangum's (run per invocation when on)."""
    configure_lambda_logging()
    logging.getLogger("mangum.http").setLevel(logging.INFO if access_log else logging.WARNING)
    adapter = Mangum(app, lifespan=lifespan, text_mime_types=list(TEXT_MIME_TYPES))

    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            adapter.infer(dict(event), context)
        except RuntimeError as unknown:  # mangum's word for "no handler fits this event"
            raise BadProxyEvent(
                "not an HTTP event: expected API Gateway payload format 2.0 (version '2.0', "
                "also function URLs) or 1.0 (httpMethod and resource), or an ALB event; "
                "check the integration type"
            ) from unknown
        _have_event_loop()
        return adapter(dict(event), context)

    return logged_invocations(handle)


def _have_event_loop() -> None:
    """mangum runs each request on the thread's current event loop, set when it was built;
    make sure there still is one (an ``asyncio.run`` in between unsets it)."""
    try:
        if not asyncio.get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())
