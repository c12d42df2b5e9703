"""Lambda entry points: the router's handlers (DynamoDB Streams, Kinesis, SQS) and the HTTP
app behind API Gateway. Import them through :mod:`eventfold.aws`."""

from eventfold.entry.aws_lambda.asgi import BadProxyEvent, http_handler
from eventfold.entry.aws_lambda.handlers import LambdaHandler, RouterHandlers, router_handlers

__all__ = ["BadProxyEvent", "LambdaHandler", "RouterHandlers", "http_handler", "router_handlers"]
