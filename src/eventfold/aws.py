"""eventfold on AWS: the public face of the AWS adapters and Lambda entry points.

Feeds: :class:`KinesisFeed` (Kinesis Data Streams for DynamoDB; out of order and twice is
fine), :class:`SqsFeed` (a queue the SQS/SNS targets fill). Targets: :func:`sqs_target`,
:func:`sns_target` (standard or FIFO; JSON or protobuf bodies with attributes for filter
policies), or :func:`message_target` from one setting value; :func:`lambda_target` (one
asynchronous invocation per event, consumed by ``router_handlers(...).lambda_invocation``)
and :func:`step_functions_target` (one execution per event, named after stream and
version). Store and router state: :class:`DynamoDBEventStore`,
:class:`DynamoDBRouterState` (tables named by :class:`TableNames`, client from
:func:`dynamodb_client`). Lambda: :func:`router_handlers` (DynamoDB Streams, Kinesis and
SQS events, an EventBridge Pipe's batches, another function's invocations; partial batch
responses), :func:`http_handler` (the HTTP app behind API Gateway, payload 2.0 and 1.0)
and :func:`jobs_handler` (the services' periodic jobs, invoked by a schedule), or all of
them built from the settings by :func:`lambda_entry_points`.

The store, feeds and targets need the ``[aws]`` extra; the Lambda entry points also need
``[lambda]`` (mangum, the HTTP app): they are imported on first use, so a service that only
keeps its events in DynamoDB does not install a web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventfold.entry.extras import require_extra

require_extra("eventfold.aws", "aws")

from eventfold.adapters.aws.clients import (
    dynamodb_client,
    lambda_client,
    sns_client,
    sqs_client,
    step_functions_client,
)
from eventfold.adapters.aws.compose import kinesis_feed, message_target, queue_feed
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.adapters.aws.kinesis_feed import KinesisFeed
from eventfold.adapters.aws.lambda_target import LambdaTarget, event_of_invocation, lambda_target
from eventfold.adapters.aws.messages import OutboundMessage, event_of_message, outbound_message
from eventfold.adapters.aws.outbound_target import MessageTarget
from eventfold.adapters.aws.router_state import DynamoDBRouterState
from eventfold.adapters.aws.sns_target import sns_target
from eventfold.adapters.aws.sqs_feed import SqsFeed
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.aws.step_functions_target import (
    StepFunctionsTarget,
    execution_name,
    step_functions_target,
)

if TYPE_CHECKING:
    from eventfold.entry.aws_lambda import (
        BadProxyEvent,
        LambdaHandler,
        PipeHandler,
        RouterHandlers,
        http_handler,
        jobs_handler,
        router_handlers,
    )
    from eventfold.entry.composition import LambdaEntryPoints, lambda_entry_points

_LAMBDA_NAMES = frozenset(
    {
        "BadProxyEvent",
        "LambdaHandler",
        "PipeHandler",
        "RouterHandlers",
        "http_handler",
        "jobs_handler",
        "router_handlers",
        "LambdaEntryPoints",
        "lambda_entry_points",
    }
)


def __getattr__(name: str) -> object:
    """The Lambda entry points, imported when first asked for (PEP 562): they need the
    ``[lambda]`` extra, which the store, feeds and targets above do not."""
    if name not in _LAMBDA_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_extra(f"eventfold.aws.{name}", "lambda")
    from eventfold.entry import aws_lambda, composition

    home = composition if name in {"LambdaEntryPoints", "lambda_entry_points"} else aws_lambda
    value: object = getattr(home, name)
    return value


__all__ = [
    "BadProxyEvent",
    "DynamoDBEventStore",
    "DynamoDBRouterState",
    "KinesisFeed",
    "LambdaEntryPoints",
    "LambdaHandler",
    "LambdaTarget",
    "MessageTarget",
    "OutboundMessage",
    "PipeHandler",
    "RouterHandlers",
    "SqsFeed",
    "StepFunctionsTarget",
    "TableNames",
    "dynamodb_client",
    "event_of_invocation",
    "event_of_message",
    "execution_name",
    "http_handler",
    "jobs_handler",
    "kinesis_feed",
    "lambda_client",
    "lambda_entry_points",
    "lambda_target",
    "message_target",
    "outbound_message",
    "queue_feed",
    "router_handlers",
    "sns_client",
    "sns_target",
    "sqs_client",
    "sqs_target",
    "step_functions_client",
    "step_functions_target",
]
