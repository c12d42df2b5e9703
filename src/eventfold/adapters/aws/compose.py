"""Feeds and targets from plain setting values, so the seed's router variants are chosen by
configuration, not code: a destination string names an SNS topic (its ARN) or an SQS queue
(its URL); a queue URL or a Kinesis stream name picks the feed."""

from __future__ import annotations

import re

from eventfold.adapters.aws.clients import kinesis_client, sns_client, sqs_client
from eventfold.adapters.aws.kinesis_feed import KinesisFeed
from eventfold.adapters.aws.outbound_target import MessageTarget
from eventfold.adapters.aws.sns_target import sns_target
from eventfold.adapters.aws.sqs_feed import SqsFeed
from eventfold.adapters.aws.sqs_target import sqs_target
from eventfold.adapters.protobuf.outbound import OutboundFormat
from eventfold.domain.codecs import EventCodec
from eventfold.errors import ConfigurationError

_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:")  # aws, aws-cn, aws-us-gov partitions


def message_target(
    destination: str,
    codec: EventCodec,
    *,
    format: OutboundFormat | str = OutboundFormat.JSON,
    name: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> MessageTarget:
    """An SNS target for ``arn:aws:sns:…`` (fan-out), an SQS target for a queue URL."""
    destination = destination.strip()
    if _SNS_ARN.match(destination):
        topics = sns_client(region=region, endpoint_url=endpoint_url)
        return sns_target(topics, destination, codec, format=format, name=name or "sns")
    if destination.startswith(("https://", "http://")):
        queues = sqs_client(region=region, endpoint_url=endpoint_url)
        return sqs_target(queues, destination, codec, format=format, name=name or "sqs")
    raise ConfigurationError(
        f"message destination {destination!r} is neither an SNS topic ARN "
        "(arn:aws:sns:<region>:<account>:<topic>) nor an SQS queue URL "
        "(https://sqs.<region>.amazonaws.com/<account>/<queue>)"
    )


def queue_feed(
    queue_url: str,
    *,
    long_poll: int = 5,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> SqsFeed:
    """The feed of one subscription's queue (the consumer side of the SQS/SNS variants)."""
    if not queue_url.startswith(("https://", "http://")):
        raise ConfigurationError(
            f"queue {queue_url!r} is not an SQS queue URL "
            "(https://sqs.<region>.amazonaws.com/<account>/<queue>)"
        )
    client = sqs_client(region=region, endpoint_url=endpoint_url)
    return SqsFeed(client, queue_url, long_poll=long_poll)


def kinesis_feed(
    stream: str,
    *,
    events_table: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> KinesisFeed:
    """The feed of the Kinesis data stream the events table streams into."""
    if not stream.strip():
        raise ConfigurationError("the Kinesis stream name (or ARN) is empty")
    client = kinesis_client(region=region, endpoint_url=endpoint_url)
    return KinesisFeed(client, stream.strip(), events_table=events_table)
