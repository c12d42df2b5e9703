"""boto3 clients built the same way for real AWS and for a local emulator.

The SDK's own retries are switched off (one attempt per call): eventfold retries transient
failures itself (:mod:`eventfold.adapters.aws.errors`) so that one policy, with jitter,
decides how long a caller waits before StoreUnavailable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kinesis import KinesisClient

SDK_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 1},
    connect_timeout=5,
    read_timeout=20,
    max_pool_connections=32,
)

NO_REGION = (
    "no AWS region: set EVENTFOLD_AWS_REGION (or AWS_REGION), or pass --region, e.g. us-east-1"
)


def _session(region: str | None) -> boto3.session.Session:
    return boto3.session.Session(region_name=region)


def dynamodb_client(
    *, region: str | None = None, endpoint_url: str | None = None
) -> DynamoDBClient:
    """A DynamoDB client; ``endpoint_url`` points it at an emulator (None: real AWS).
    Credentials come from the usual AWS chain (environment, profile, instance role)."""
    try:
        return _session(region).client("dynamodb", endpoint_url=endpoint_url, config=SDK_CONFIG)
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION) from exc


def kinesis_client(*, region: str | None = None, endpoint_url: str | None = None) -> KinesisClient:
    try:
        return _session(region).client("kinesis", endpoint_url=endpoint_url, config=SDK_CONFIG)
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION) from exc
