"""The SNS target: each event is published to a topic (standard or FIFO).

The seed's variant "router -> SNS -> SQS queues": the router publishes once; each consumer
subscribes its own queue, optionally with a filter policy on the message attributes
(``category``, ``type``, ``stream_id``, ``version`` …, see
:mod:`eventfold.adapters.aws.messages`), so adding a consumer changes no router code.
Subscribe queues with raw message delivery, or not: the SQS feed unwraps SNS notifications.
Messages are published with PublishBatch, 10 at a time; FIFO topics (ARN ending ``.fifo``)
get MessageGroupId = stream id and MessageDeduplicationId = ``stream:version``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.outbound_target import BatchApi, MessageTarget, batch_target
from eventfold.adapters.protobuf.outbound import OutboundFormat
from eventfold.domain.codecs import EventCodec

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

PUBLISH_BATCH = BatchApi("SNS", "PublishBatch", "topic", "PublishBatchRequestEntries", "Message")


def sns_target(
    client: SNSClient,
    topic_arn: str,
    codec: EventCodec,
    *,
    format: OutboundFormat | str = OutboundFormat.JSON,
    name: str = "sns",
    backoff: Backoff | None = None,
) -> MessageTarget:
    """A Target publishing every event it is given to ``topic_arn`` (FIFO when it ends in
    ``.fifo``), encoded in ``format`` (``json`` or ``protobuf``)."""
    return batch_target(
        partial(client.publish_batch, TopicArn=topic_arn),
        topic_arn,
        PUBLISH_BATCH,
        codec,
        format=format,
        name=name,
        backoff=backoff,
    )
