"""botocore errors -> eventfold's error tree, and retries with backoff for the transient ones.

Every AWS adapter calls the SDK through :func:`retrying` (DynamoDB via :func:`call_aws`, the
other services via :func:`eventfold.adapters.aws.service_calls.call_service`), so no botocore
exception crosses the adapter edge: transient failures (throttling, 5xx, connection
trouble) are retried with exponential backoff and full jitter and end as StoreUnavailable;
missing tables and bad credentials are ConfigurationError; everything else is StoreError.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from eventfold.errors import (
    ConfigurationError,
    EventfoldError,
    StoreError,
    StoreLimitExceeded,
    StoreUnavailable,
)

T = TypeVar("T")

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
        "LimitExceededException",
    }
)
"""Error codes of a whole call that a later attempt may not hit."""

TRANSIENT_CANCELLATION_CODES = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)
"""CancellationReasons codes of TransactWriteItems that a later attempt may not hit."""

CONFIGURATION_ERROR_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_codes(error: ClientError) -> list[str]:
    """The per-action codes of a TransactionCanceledException ('None' for actions that
    were fine), in the order of the transaction's actions."""
    reasons: Iterable[Mapping[str, Any]] = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


def is_transient(error: BaseException) -> bool:
    """True when trying the same call again later may succeed."""
    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error_code(error)
    if code in TRANSIENT_ERROR_CODES:
        return True
    if code == "TransactionCanceledException":
        codes = set(cancellation_codes(error)) - {"None"}
        return bool(codes) and codes <= TRANSIENT_CANCELLATION_CODES
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return status >= 500


def to_eventfold_error(error: BaseException, what: str) -> EventfoldError:
    """The eventfold error for a botocore error that is not retried (or ran out of tries)."""
    if is_transient(error):
        return StoreUnavailable(f"DynamoDB {what} failed, try again later: {error}")
    if isinstance(error, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return ConfigurationError(
            f"AWS {what}: {error} (set AWS credentials and AWS_DEFAULT_REGION, or the "
            "store's region setting)"
        )
    if isinstance(error, ClientError):
        code = error_code(error)
        if code == "ResourceNotFoundException":
            return ConfigurationError(
                f"AWS {what}: {error} (create the tables with `eventfold aws create-tables "
                "--prefix <prefix>` or fix the table prefix setting)"
            )
        if code in CONFIGURATION_ERROR_CODES:
            return ConfigurationError(f"AWS {what}: {error} (check the AWS credentials)")
        if code == "ItemCollectionSizeLimitExceededException":
            return StoreLimitExceeded(f"DynamoDB {what}: {error}")
    return StoreError(f"DynamoDB {what} failed: {error}")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base*2^n)).

    ``sleep`` and ``jitter`` are injectable so tests need not wait.
    """

    attempts: int = 6
    base_seconds: float = 0.05
    cap_seconds: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Backoff.attempts must be at least 1")

    def delay(self, attempt: int) -> float:
        return self.jitter() * min(self.cap_seconds, self.base_seconds * 2.0**attempt)


def retrying(
    call: Callable[[], T],
    backoff: Backoff,
    service: str,
    what: str,
    to_error: Callable[[BaseException], EventfoldError],
    *,
    passthrough: frozenset[str] = frozenset(),
) -> T:
    """``call()``, retried while it fails transiently, then StoreUnavailable. A ClientError
    that is not transient is re-raised unchanged when its code is in ``passthrough`` (the
    caller handles it); any other botocore error leaves as ``to_error(error)``."""
    for attempt in range(backoff.attempts):
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                if isinstance(error, ClientError) and error_code(error) in passthrough:
                    raise
                raise to_error(error) from error
            if attempt + 1 == backoff.attempts:
                raise StoreUnavailable(
                    f"{service} {what} still failing after {backoff.attempts} attempts: {error}"
                ) from error
            backoff.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def call_aws(
    call: Callable[[], T],
    backoff: Backoff,
    what: str,
    *,
    passthrough: frozenset[str] = frozenset(),
) -> T:
    """``call()`` to DynamoDB, retried while it fails transiently; botocore errors leave as
    eventfold's.

    ClientErrors that are not transient are re-raised unchanged for the caller to inspect
    when they are TransactionCanceledException (the store maps its reasons) or their code
    is in ``passthrough`` (e.g. a failed condition the caller expects); any other error is
    mapped here.
    """
    return retrying(
        call,
        backoff,
        "DynamoDB",
        what,
        partial(to_eventfold_error, what=what),
        passthrough=passthrough | {"TransactionCanceledException"},
    )
