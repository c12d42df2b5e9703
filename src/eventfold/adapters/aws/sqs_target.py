"""The SQS target: each event becomes one message on a queue (standard or FIFO).

The seed's variant "router -> SQS -> consumer": the router only has to get the event into
the queue, which rarely fails; whatever processes it later reads the queue at its own pace
(the SQS feed, or a Lambda function with the SQS handler). Messages are sent with
SendMessageBatch, 10 at a time; see :mod:`eventfold.adapters.aws.messages` for the body and
attributes. FIFO queues (URL ending ``.fifo``) get MessageGroupId = stream id and
MessageDeduplicationId = ``stream:version``.

Delivery is at least once: when a batch fails partly, the router re-sends the failing
streams, and the events of other streams in that batch may be sent again. A FIFO queue
drops such repeats (within its 5-minute deduplication window); consumers of a standard
queue skip them by version, as the router does.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.outbound_target import BatchApi, MessageTarget, batch_target
from eventfold.adapters.protobuf.outbound import OutboundFormat
from eventfold.domain.codecs import EventCodec

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SEND_MESSAGE_BATCH = BatchApi("SQS", "SendMessageBatch", "queue", "Entries", "MessageBody")


def sqs_target(
    client: SQSClient,
    queue_url: str,
    codec: EventCodec,
    *,
    format: OutboundFormat | str = OutboundFormat.JSON,
    name: str = "sqs",
    backoff: Backoff | None = None,
) -> MessageTarget:
    """A Target sending every event it is given to ``queue_url`` (FIFO when it ends in
    ``.fifo``), encoded in ``format`` (``json`` or ``protobuf``)."""
    return batch_target(
        partial(client.send_message_batch, QueueUrl=queue_url),
        queue_url,
        SEND_MESSAGE_BATCH,
        codec,
        format=format,
        name=name,
        backoff=backoff,
    )
