"""The boto3 client builders: eventfold's SDK settings, an emulator by endpoint, and a
ConfigurationError naming where to set the region when there is none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from eventfold.adapters.aws.clients import (
    aws_client,
    dynamodb_client,
    dynamodb_streams_client,
    kinesis_client,
    sns_client,
    sqs_client,
)
from eventfold.errors import ConfigurationError
from tests.loopback import free_port


def test_a_client_has_the_sdk_settings_and_the_endpoint_given() -> None:
    client = aws_client("sqs", region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (5, 20)


def test_the_sdk_makes_one_attempt_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """eventfold retries transient failures itself (errors.Backoff): a call the SDK retried
    too would multiply the attempts and the wait."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = aws_client("sqs", region="us-east-1", endpoint_url=f"http://127.0.0.1:{free_port()}")
    sent: list[str] = []
    client.meta.events.register("before-send.sqs", lambda request, **_: sent.append(request.url))
    with pytest.raises(EndpointConnectionError):  # nothing listens there
        client.list_queues()
    assert len(sent) == 1


@pytest.mark.parametrize(
    "build", [dynamodb_client, dynamodb_streams_client, kinesis_client, sqs_client, sns_client]
)
def test_no_region_is_a_configuration_error_naming_every_way_to_set_one(
    build: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigurationError) as refused:
        build()

    message = str(refused.value)
    for way in ("EVENTFOLD_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "--region", "region="):
        assert way in message
