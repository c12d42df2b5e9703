"""Calls to Kinesis, SQS and SNS with the store's retry policy and error mapping.

The DynamoDB store has :func:`eventfold.adapters.aws.errors.call_aws`; the feeds and targets
here share its retry loop (:func:`eventfold.adapters.aws.errors.retrying`), but name their own
service in messages and suggest the fix that fits it (create the queue, the stream, the
topic) rather than ``eventfold aws create-tables``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from eventfold.adapters.aws.errors import (
    CONFIGURATION_ERROR_CODES,
    Backoff,
    error_code,
    is_transient,
    retrying,
)
from eventfold.errors import ConfigurationError, EventfoldError, StoreError, StoreUnavailable

T = TypeVar("T")

MISSING_RESOURCE_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",
        "NotFoundException",
    }
)


def service_error(error: BaseException, service: str, what: str) -> EventfoldError:
    """The eventfold error for a botocore error of ``service`` that is not retried."""
    if is_transient(error):
        return StoreUnavailable(f"{service} {what} failed, try again later: {error}")
    if isinstance(error, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return ConfigurationError(
            f"{service} {what}: {error} (set AWS credentials and AWS_DEFAULT_REGION)"
        )
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in MISSING_RESOURCE_CODES:
            return ConfigurationError(
                f"{service} {what}: {error} (create it first, or fix the name/URL/ARN setting)"
            )
        if code in CONFIGURATION_ERROR_CODES:
            return ConfigurationError(f"{service} {what}: {error} (check the AWS credentials)")
    return StoreError(f"{service} {what} failed: {error}")


def call_service(
    call: Callable[[], T],
    backoff: Backoff,
    service: str,
    what: str,
    *,
    passthrough: frozenset[str] = frozenset(),
) -> T:
    """``call()``, retried while it fails transiently; botocore errors leave as eventfold's
    (StoreUnavailable once the attempts run out), except ClientErrors whose code is in
    ``passthrough``, which the caller handles itself (e.g. an expired shard iterator)."""
    return retrying(
        call,
        backoff,
        service,
        what,
        partial(service_error, service=service, what=what),
        passthrough=passthrough,
    )
