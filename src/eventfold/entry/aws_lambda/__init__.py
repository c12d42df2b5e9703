"""Lambda entry points: the router's handlers (DynamoDB Streams, Kinesis, SQS, Pipes,
Lambda invocations), the HTTP app behind API Gateway and the services' periodic jobs on a
schedule. Import them through :mod:`eventfold.aws`."""

from eventfold.entry.aws_lambda.asgi import BadProxyEvent, http_handler
from eventfold.entry.aws_lambda.handlers import RouterHandlers, router_handlers
from eventfold.entry.aws_lambda.invocations import LambdaHandler, PipeHandler
from eventfold.entry.aws_lambda.jobs import jobs_handler

__all__ = [
    "BadProxyEvent",
    "LambdaHandler",
    "PipeHandler",
    "RouterHandlers",
    "http_handler",
    "jobs_handler",
    "router_handlers",
]
