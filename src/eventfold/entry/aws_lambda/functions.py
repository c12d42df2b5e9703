"""The handlers ``deploy/aws/template.yaml`` names: ``eventfold.entry.aws_lambda.functions.http``
and its siblings, one per Lambda function.

Each function's container builds :func:`~eventfold.entry.composition.lambda_entry_points`
from its environment (the same ``EVENTFOLD_*`` settings as ``eventfold run``) at its first
invocation and keeps it for its life: a Lambda runtime calls a module-level function, so the
container's composition has to live with the module. The cache is the one place it does;
tests call :func:`lambda_entry_points` themselves.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from eventfold.entry.composition import LambdaEntryPoints, lambda_entry_points
from eventfold.entry.service import installed_services
from eventfold.entry.settings import load_settings


@functools.cache
def entry_points() -> LambdaEntryPoints:
    """This container's handlers, built from ``os.environ`` once."""
    settings = load_settings(os.environ)
    return lambda_entry_points(settings, installed_services(settings.services))


def http(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (HTTP API, payload 2.0) -> the services' HTTP app."""
    return entry_points().http(event, context)


def dynamodb_stream(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The events table's DynamoDB stream -> the router (partial batch responses)."""
    return entry_points().router.dynamodb_stream(event, context)


def kinesis(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The events table's Kinesis data stream -> the router (partial batch responses)."""
    return entry_points().router.kinesis(event, context)


def sqs(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """An SQS queue the SQS/SNS targets fill -> the router (partial batch responses)."""
    return entry_points().router.sqs(event, context)


def jobs(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """An EventBridge schedule -> the services' periodic jobs."""
    return entry_points().jobs(event, context)
