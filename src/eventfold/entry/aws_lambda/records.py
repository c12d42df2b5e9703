"""What AWS hands the router's Lambda handlers -> events, with the identifier AWS wants back
for each record that is not done.

Three sources, two envelopes. A Lambda event source mapping sends ``{"Records": [...]}``;
an EventBridge Pipe sends the bare JSON array of the same source's records, and names a
Kinesis record's fields at the top level (``sequenceNumber``, ``data``) where Lambda nests
them under ``kinesis``. The record converters below take the list of records either way:
the Lambda handlers and the Pipe handler share them.

Item identifiers: Lambda wants ``dynamodb.SequenceNumber`` / ``kinesis.sequenceNumber`` /
``messageId``; a Pipe wants ``eventID`` for stream records and ``messageId`` for SQS (see
:func:`pipe_events`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from eventfold.adapters.aws.change_records import (
    event_of_change,
    kinesis_change,
    table_of_stream_arn,
)
from eventfold.adapters.aws.messages import event_of_message, lambda_sqs_attributes, unwrap_sns
from eventfold.domain.events import RecordedEvent
from eventfold.errors import CodecError, StoreError

log = structlog.stdlib.get_logger(__name__)

Converted = tuple[list[tuple[str, RecordedEvent]], list[str]]
"""(item identifier, event) for each record that carries an event; identifiers of records
that are failed already."""

Record = Mapping[str, Any]
Identify = Callable[[Record], str]


def lambda_records(event: Mapping[str, Any]) -> list[Record]:
    """The records of a Lambda event source mapping's event."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a Lambda batch event: no 'Records' list")
    return records


def _sequence_number(record: Record) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber", ""))


def _kinesis_sequence_number(record: Record) -> str:
    return str(record.get("kinesis", {}).get("sequenceNumber", ""))


def _event_id(record: Record) -> str:
    return str(record.get("eventID", ""))


def _message_id(record: Record) -> str:
    return str(record.get("messageId", ""))


def dynamodb_stream_events(
    records: Sequence[Record], events_table: str | None, identify: Identify = _sequence_number
) -> Converted:
    """DynamoDB Streams records; item identifier ``dynamodb.SequenceNumber`` unless
    ``identify`` says otherwise."""
    items: list[tuple[str, RecordedEvent]] = []
    for record in records:
        identifier = identify(record)
        table = table_of_stream_arn(str(record.get("eventSourceARN", "")))
        try:
            recorded = event_of_change(record, events_table, table=table)
        except StoreError as bad:
            log.warning(
                "skipping stream record: not an event item", record=identifier, error=str(bad)
            )
            continue
        if recorded is not None:
            items.append((identifier, recorded))
    return items, []


def kinesis_events(
    records: Sequence[Record],
    events_table: str | None,
    identify: Identify = _kinesis_sequence_number,
) -> Converted:
    """Kinesis records as Lambda nests them (``{"kinesis": {"sequenceNumber", "data"}}``,
    Kinesis Data Streams for DynamoDB format); item identifier ``kinesis.sequenceNumber``
    unless ``identify`` says otherwise."""
    items: list[tuple[str, RecordedEvent]] = []
    for record in records:
        kinesis = record.get("kinesis", {})
        identifier = identify(record)
        try:
            data = base64.b64decode(kinesis.get("data", ""), validate=True)
            recorded = event_of_change(kinesis_change(data), events_table)
        except (StoreError, binascii.Error, ValueError) as bad:
            log.warning(
                "skipping Kinesis record: not an event item", record=identifier, error=str(bad)
            )
            continue
        if recorded is not None:
            items.append((identifier, recorded))
    return items, []


def sqs_events(records: Sequence[Record]) -> Converted:
    """SQS messages (from the SQS / SNS targets); item identifier ``messageId``. Messages
    that carry no event are failed at once (the queue's redrive policy moves them to the
    dead-letter queue)."""
    items: list[tuple[str, RecordedEvent]] = []
    failed: list[str] = []
    for record in records:
        identifier = _message_id(record)
        body, attributes = unwrap_sns(str(record.get("body", "")), lambda_sqs_attributes(record))
        try:
            items.append((identifier, event_of_message(body, attributes)))
        except CodecError as unreadable:
            log.warning("message carries no event", message_id=identifier, error=str(unreadable))
            failed.append(identifier)
    return items, failed


PIPE_SOURCES = ("aws:dynamodb", "aws:kinesis", "aws:sqs")


def pipe_events(records: Any, events_table: str | None) -> Converted:
    """An EventBridge Pipe's batch: a bare JSON array of DynamoDB Streams, Kinesis or SQS
    records (one pipe, one source, so one ``eventSource`` for them all).

    Item identifiers are what Pipes matches a ``batchItemFailures`` entry against: "For
    Amazon SQS, this is the messageId. For Kinesis and DynamoDB, this is the eventID."
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html#pipes-partial-batch-failure).
    """
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise ValueError("not an EventBridge Pipes batch: expected a JSON array of records")
    sources = {str(r.get("eventSource", "")) for r in records}
    if len(sources) > 1 or not sources <= set(PIPE_SOURCES):
        raise ValueError(
            f"a Pipe batch holds records of one source ({', '.join(PIPE_SOURCES)}); "
            f"got {sorted(sources)}"
        )
    source = next(iter(sources), "aws:sqs")
    if source == "aws:dynamodb":
        return dynamodb_stream_events(records, events_table, _event_id)
    if source == "aws:kinesis":
        # a Pipe's Kinesis record is Lambda's ``kinesis`` object plus the envelope fields
        return kinesis_events([{"kinesis": r, **r} for r in records], events_table, _event_id)
    return sqs_events(records)
