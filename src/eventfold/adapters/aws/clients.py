"""boto3 clients built the same way for real AWS and for a local emulator.

The SDK's own retries are switched off (one attempt per call): eventfold retries transient
failures itself (:mod:`eventfold.adapters.aws.errors`) so that one policy, with jitter,
decides how long a caller waits before StoreUnavailable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

SDK_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},  # max_attempts counts retries
    connect_timeout=5,
    read_timeout=20,
    max_pool_connections=32,
)

NO_REGION = (
    "no AWS region: set EVENTFOLD_AWS_REGION (or AWS_REGION / AWS_DEFAULT_REGION), pass "
    "--region to the eventfold aws commands, or region= to the client builders; "
    "e.g. us-east-1"
)


def aws_client(
    service: str,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """A boto3 client of ``service`` with eventfold's SDK settings; ``endpoint_url`` points
    it at an emulator (None: real AWS). Credentials come from the usual AWS chain
    (environment, profile, instance role). No region: ConfigurationError(NO_REGION).

    Typed Any because the stubs type ``Session.client`` per literal service name; the
    builders below give each client its type."""
    session: Any = boto3.session.Session(region_name=region)
    try:
        return session.client(service, endpoint_url=endpoint_url, config=SDK_CONFIG)
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION) from exc


def dynamodb_client(
    *, region: str | None = None, endpoint_url: str | None = None
) -> DynamoDBClient:
    """A DynamoDB client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    return cast("DynamoDBClient", aws_client("dynamodb", region=region, endpoint_url=endpoint_url))


def dynamodb_streams_client(
    *, region: str | None = None, endpoint_url: str | None = None
) -> DynamoDBStreamsClient:
    """A DynamoDB Streams client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    client = aws_client("dynamodbstreams", region=region, endpoint_url=endpoint_url)
    return cast("DynamoDBStreamsClient", client)


def kinesis_client(*, region: str | None = None, endpoint_url: str | None = None) -> KinesisClient:
    """A Kinesis client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    return cast("KinesisClient", aws_client("kinesis", region=region, endpoint_url=endpoint_url))


def sqs_client(*, region: str | None = None, endpoint_url: str | None = None) -> SQSClient:
    """An SQS client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    return cast("SQSClient", aws_client("sqs", region=region, endpoint_url=endpoint_url))


def sns_client(*, region: str | None = None, endpoint_url: str | None = None) -> SNSClient:
    """An SNS client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    return cast("SNSClient", aws_client("sns", region=region, endpoint_url=endpoint_url))


def lambda_client(*, region: str | None = None, endpoint_url: str | None = None) -> LambdaClient:
    """A Lambda client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    return cast("LambdaClient", aws_client("lambda", region=region, endpoint_url=endpoint_url))


def step_functions_client(
    *, region: str | None = None, endpoint_url: str | None = None
) -> SFNClient:
    """A Step Functions client; ``endpoint_url`` points it at an emulator (None: real AWS)."""
    return cast("SFNClient", aws_client("stepfunctions", region=region, endpoint_url=endpoint_url))
