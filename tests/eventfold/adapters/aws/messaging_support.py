"""Shared by the SQS / SNS tests: a JSON codec for the router tests' ``Happened`` events
(``fill`` writes them), and queues / topics on moto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eventfold import EventTypes, JsonCodec


@dataclass(frozen=True)
class Happened:
    v: int


def happened_codec() -> JsonCodec:
    types = EventTypes()
    types.register(Happened, name="Happened")
    return JsonCodec(types)


def create_queue(sqs: Any, name: str, **attributes: str) -> str:
    if name.endswith(".fifo"):
        attributes.setdefault("FifoQueue", "true")
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def queue_arn(sqs: Any, url: str) -> str:
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn: str = found["Attributes"]["QueueArn"]
    return arn


def subscribe_queue(
    sns: Any, sqs: Any, topic_arn: str, url: str, *, raw: bool, policy: dict[str, Any] | None
) -> None:
    attributes = {"RawMessageDelivery": "true" if raw else "false"}
    if policy is not None:
        attributes["FilterPolicy"] = json.dumps(policy)
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn(sqs, url),
        Attributes=attributes,
    )


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (received, not deleted)."""
    found: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not got:
            return found
        found.extend(got)
