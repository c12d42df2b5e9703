"""The SQS feed: events from a queue the SQS or SNS target fills.

The consumer half of the seed's variants "router -> SQS -> consumer" and "router -> SNS ->
SQS queues". A poll long-polls ReceiveMessage (up to 10 messages per call), turns each
message into a :class:`RecordedEvent` (:func:`eventfold.adapters.aws.messages.
event_of_message`; SNS notifications are unwrapped) and keeps its receipt handle; ack
deletes the batch's messages with DeleteMessageBatch. A message not acked before its
visibility timeout comes back: harmless, the router skips versions it already applied, and
heals gaps (a standard queue does not keep order) from the event store.

A queue is not a log: the checkpoint stays ``BEGINNING``, a message once acked is gone,
and every subscription needs its own queue (subscriptions polling one queue would split its
messages between them). Fan out with an SNS topic and one queue per subscription, or run
every subscription on each batch with the SQS Lambda handler.

A message the feed cannot read (not sent by these targets, or damaged) is left in the
queue and logged; give the queue a redrive policy so such messages move to a dead-letter
queue after a few receives.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.messages import (
    MAX_BATCH_ENTRIES,
    event_of_message,
    sqs_api_attributes,
    unwrap_sns,
)
from eventfold.adapters.aws.service_calls import call_service
from eventfold.core.router.ports import FeedBatch, Lag
from eventfold.domain.events import RecordedEvent
from eventfold.errors import CodecError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = structlog.stdlib.get_logger(__name__)

MAX_WAIT_SECONDS = 20


def message_event(message: Mapping[str, Any]) -> RecordedEvent:
    """The event of one ReceiveMessage message (raises CodecError when it carries none)."""
    body, attributes = unwrap_sns(str(message.get("Body", "")), sqs_api_attributes(message))
    return event_of_message(body, attributes)


class SqsFeed:
    """The Feed port over one SQS queue. Thread-safe.

    ``long_poll``: seconds one ReceiveMessage may wait (1-20); :meth:`wake` takes effect
    when the current call returns, so it also bounds how long stopping a worker takes.
    ``visibility_timeout``: seconds a received message stays hidden (None: the queue's).
    """

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        *,
        name: str = "sqs",
        long_poll: int = 5,
        visibility_timeout: int | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if not 1 <= long_poll <= MAX_WAIT_SECONDS:
            raise ValueError(f"long_poll must be 1 to {MAX_WAIT_SECONDS} seconds")
        self.client = client
        self.queue_url = queue_url
        self.name = name
        self.long_poll = long_poll
        self.visibility_timeout = visibility_timeout
        self.backoff = backoff or Backoff()
        self._wakes = 0
        self._lock = threading.Lock()

    # -- Feed --------------------------------------------------------------------------
    def poll(self, checkpoint: str, *, limit: int = 500, timeout: float = 1.0) -> FeedBatch:
        deadline = time.monotonic() + timeout
        with self._lock:
            wakes = self._wakes
        events: list[RecordedEvent] = []
        receipts: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            wait = 0 if events else min(self.long_poll, max(0, math.ceil(remaining)))
            received = self._receive(min(MAX_BATCH_ENTRIES, limit - len(events)), wait)
            for message in received:
                try:
                    event = message_event(message)
                except CodecError as unreadable:
                    log.warning(
                        "left a message that carries no event in the queue",
                        message_id=message.get("MessageId"),
                        queue=self.queue_url,
                        error=str(unreadable),
                    )
                    continue
                events.append(event)
                receipts.append(str(message["ReceiptHandle"]))
            if events and (not received or len(events) >= limit):
                return FeedBatch(events, checkpoint, receipts)
            if received:
                continue
            with self._lock:
                woken = self._wakes != wakes
            if woken or deadline - time.monotonic() <= 0:
                return FeedBatch(events, checkpoint, receipts)

    def ack(self, batch: FeedBatch) -> None:
        """Delete the batch's messages. Deletions SQS refuses are logged: such a message
        comes back after its visibility timeout and is skipped as a duplicate."""
        receipts = list(batch.receipts)
        for start in range(0, len(receipts), MAX_BATCH_ENTRIES):
            entries = [
                {"Id": str(n), "ReceiptHandle": r}
                for n, r in enumerate(receipts[start : start + MAX_BATCH_ENTRIES])
            ]
            response = call_service(
                partial(self.client.delete_message_batch, QueueUrl=self.queue_url, Entries=entries),  # type: ignore[arg-type]
                self.backoff,
                "SQS",
                f"DeleteMessageBatch on {self.queue_url}",
            )
            for failed in response.get("Failed", []):
                log.warning("SQS kept a message it was asked to delete", failure=failed)

    def lag(self, checkpoint: str) -> Lag:
        """Messages waiting in the queue (ApproximateNumberOfMessages); SQS does not say
        how old the oldest one is (CloudWatch does: ApproximateAgeOfOldestMessage)."""
        response = call_service(
            partial(
                self.client.get_queue_attributes,
                QueueUrl=self.queue_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            ),
            self.backoff,
            "SQS",
            f"GetQueueAttributes of {self.queue_url}",
        )
        count = int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))
        return Lag(count, 0.0 if count == 0 else None)

    def wake(self) -> None:
        with self._lock:
            self._wakes += 1

    # -- internals -----------------------------------------------------------------------
    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max(1, count),
            "WaitTimeSeconds": wait,
            "MessageAttributeNames": ["All"],
        }
        if self.visibility_timeout is not None:
            request["VisibilityTimeout"] = self.visibility_timeout
        response = call_service(
            partial(self.client.receive_message, **request),
            self.backoff,
            "SQS",
            f"ReceiveMessage from {self.queue_url}",
        )
        return [dict(message) for message in response.get("Messages", [])]
