"""Which botocore errors are transient, what the rest become, and the retry loop.

Throttling cannot be provoked on moto, so classification is tested on ClientErrors built
the way botocore builds them from a response; connection failures are real (a closed
loopback port)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from eventfold import (
    ConfigurationError,
    StoreError,
    StoreLimitExceeded,
    StoreUnavailable,
)
from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.adapters.aws.errors import Backoff, call_aws, is_transient, to_eventfold_error


def client_error(code: str, status: int = 400, reasons: list[str] | None = None) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionConflictException",
    ],
)
def test_throttling_and_server_errors_are_transient(code: str) -> None:
    assert is_transient(client_error(code))


def test_any_5xx_is_transient() -> None:
    assert is_transient(client_error("SomethingNew", status=503))


@pytest.mark.parametrize(
    ("reasons", "transient"),
    [
        (["None", "TransactionConflict"], True),
        (["ThrottlingError", "None"], True),
        (["ConditionalCheckFailed", "TransactionConflict"], False),
        (["ConditionalCheckFailed"], False),
        (["ValidationError"], False),
    ],
)
def test_a_cancelled_transaction_is_transient_only_for_conflicts_and_throttling(
    reasons: list[str], transient: bool
) -> None:
    assert is_transient(client_error("TransactionCanceledException", reasons=reasons)) is transient


@pytest.mark.parametrize(
    ("error", "kind", "says"),
    [
        (client_error("ResourceNotFoundException"), ConfigurationError, "create-tables"),
        (client_error("UnrecognizedClientException"), ConfigurationError, "credentials"),
        (NoCredentialsError(), ConfigurationError, "AWS_DEFAULT_REGION"),
        (client_error("ItemCollectionSizeLimitExceededException"), StoreLimitExceeded, ""),
        (client_error("ValidationException"), StoreError, "ValidationException"),
        (client_error("ThrottlingException"), StoreUnavailable, "try again"),
    ],
)
def test_errors_map_to_the_error_tree(error: Exception, kind: type, says: str) -> None:
    mapped = to_eventfold_error(error, "append")
    assert type(mapped) is kind
    assert says in str(mapped)


class Recorder:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0
        self.slept: list[float] = []

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def backoff(recorder: Recorder, attempts: int = 4) -> Backoff:
    return Backoff(
        attempts=attempts, base_seconds=0.1, sleep=recorder.slept.append, jitter=lambda: 1
    )


def test_transient_failures_are_retried_with_growing_waits() -> None:
    call = Recorder([client_error("ThrottlingException"), client_error("InternalServerError", 500)])
    assert call_aws(call, backoff(call), "read") == "done"
    assert call.calls == 3
    assert call.slept == [0.1, 0.2]


def test_waits_are_capped_and_jittered() -> None:
    policy = Backoff(base_seconds=1, cap_seconds=3, jitter=lambda: 0.5)
    assert [policy.delay(n) for n in range(4)] == [0.5, 1.0, 1.5, 1.5]


def test_retries_run_out_as_store_unavailable() -> None:
    call = Recorder([client_error("ThrottlingException")] * 5)
    with pytest.raises(StoreUnavailable, match="still failing after 3 attempts"):
        call_aws(call, backoff(call, attempts=3), "read")
    assert call.calls == 3


def test_permanent_errors_are_not_retried() -> None:
    call = Recorder([client_error("ValidationException")])
    with pytest.raises(StoreError, match="ValidationException"):
        call_aws(call, backoff(call), "read")
    assert call.calls == 1


def test_a_cancelled_transaction_is_left_to_the_store_to_explain() -> None:
    call = Recorder(
        [client_error("TransactionCanceledException", reasons=["ConditionalCheckFailed"])]
    )
    with pytest.raises(ClientError):
        call_aws(call, backoff(call), "append")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_endpoint_ends_as_store_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    slept: list[float] = []
    client = dynamodb_client(region="us-east-1", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    store = DynamoDBEventStore(client, backoff=Backoff(attempts=3, sleep=slept.append))
    with pytest.raises(StoreUnavailable, match="still failing after 3 attempts"):
        store.load("order-1")
    assert len(slept) == 2
