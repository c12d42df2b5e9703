"""boto3 clients for SQS and SNS, built like the store's (one SDK attempt per call: eventfold
retries transient failures itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import NoRegionError

from eventfold.adapters.aws.clients import SDK_CONFIG
from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

NO_REGION = "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), e.g. us-east-1"


def sqs_client(*, region: str | None = None, endpoint_url: str | None = None) -> SQSClient:
    """An SQS client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    try:
        return boto3.session.Session(region_name=region).client(
            "sqs", endpoint_url=endpoint_url, config=SDK_CONFIG
        )
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION) from exc


def sns_client(*, region: str | None = None, endpoint_url: str | None = None) -> SNSClient:
    """An SNS client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    try:
        return boto3.session.Session(region_name=region).client(
            "sns", endpoint_url=endpoint_url, config=SDK_CONFIG
        )
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION) from exc
