"""What every Lambda handler of eventfold shares: its logging, and the invocation's id on
each line it writes."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog

from eventfold.entry.logs import configure_logging_from

LambdaHandler = Callable[[Mapping[str, Any], Any], dict[str, Any]]
"""``handler(event, context) -> response``, as the Lambda Python runtime calls it."""
PipeHandler = Callable[[Sequence[Mapping[str, Any]], Any], dict[str, Any]]
"""A handler an EventBridge Pipe calls: its event is a bare JSON array of records."""
Event = TypeVar("Event")


def configure_lambda_logging() -> None:
    """JSON lines at ``EVENTFOLD_LOG_LEVEL`` (called by each handler factory, so once per
    container). On Lambda the runtime's own root handler goes: it would write every line a
    second time, in its own format."""
    configure_logging_from(os.environ, exclusive="AWS_LAMBDA_FUNCTION_NAME" in os.environ)


def logged_invocations(
    handler: Callable[[Event, Any], dict[str, Any]],
) -> Callable[[Event, Any], dict[str, Any]]:
    """``handler``, with the invocation's ``aws_request_id`` on every line it logs."""

    @functools.wraps(handler)
    def handle(event: Event, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "aws_request_id", None)
        if request_id is None:
            return handler(event, context)
        with structlog.contextvars.bound_contextvars(aws_request_id=request_id):
            return handler(event, context)

    return handle
