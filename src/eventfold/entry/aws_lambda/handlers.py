"""Lambda entry points for the event router: DynamoDB Streams, Kinesis and SQS events.

One factory, :func:`router_handlers`, builds the three handlers from the same
subscriptions, event store and router state (its applied versions and parking lot, often
one adapter); a user's handler module wires them once::

    handlers = router_handlers(
        subscriptions, store, versions=state, parking=state, events_table="eventfold-events"
    )
    handle_dynamodb_stream = handlers.dynamodb_stream   # configured as the Lambda handler

Each invocation converts its records to events and calls :meth:`Router.deliver` once per
subscription (a fresh router each time: concurrent invocations may share streams, so no
version is cached across invocations). It answers with the partial batch response
(``{"batchItemFailures": [{"itemIdentifier": …}]}``; enable ReportBatchItemFailures on the
event source mapping). A record is done when every subscription applied it, skipped it as
a duplicate or PARKED its stream — parking is recorded in the parking lot, so one poison
stream never blocks a shard; Lambda retries only records whose work is not done (the router
state or the event store failed, or time ran out while retrying). A retried record reaches
subscriptions that already handled it as a duplicate: harmless.

Records that are not events: removals and other tables' changes are done at once; a stream
record that is no event item is logged and skipped (the store stays the truth, a later
event heals over it); an SQS message that carries no event is reported failed, so the
queue's redrive policy moves it to the dead-letter queue.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from eventfold.adapters.aws.change_records import (
    event_of_change,
    kinesis_change,
    table_of_stream_arn,
)
from eventfold.adapters.aws.messages import event_of_message, lambda_sqs_attributes, unwrap_sns
from eventfold.core.ports import EventStore
from eventfold.core.router.observer import RouterObserver
from eventfold.core.router.ports import AppliedVersions, Lag, ParkingLot, Subscription
from eventfold.core.router.router import Router, Sleep, Stopping, describe
from eventfold.domain.events import RecordedEvent
from eventfold.entry.aws_lambda.invocations import (
    LambdaHandler,
    configure_lambda_logging,
    logged_invocations,
)
from eventfold.errors import CodecError, StoreError

log = structlog.stdlib.get_logger(__name__)

Converted = tuple[list[tuple[str, RecordedEvent]], list[str]]
"""(item identifier, event) for each record that carries an event; identifiers of records
that are failed already."""


@dataclass(frozen=True, slots=True)
class RouterHandlers:
    """The router's Lambda handlers, all running the same subscriptions."""

    dynamodb_stream: LambdaHandler
    kinesis: LambdaHandler
    sqs: LambdaHandler


def router_handlers(
    subscriptions: Sequence[Subscription],
    store: EventStore,
    *,
    versions: AppliedVersions,
    parking: ParkingLot,
    events_table: str | None = None,
    observer: RouterObserver | None = None,
    reserve_seconds: float = 3.0,
) -> RouterHandlers:
    """Handlers routing each invocation's events to every subscription.

    ``store`` heals gaps (Kinesis and standard queues deliver out of order); ``versions``
    and ``parking`` keep the router's versions and parked streams (no checkpoints: the
    event source mapping keeps the position). ``events_table``: only changes of this table are
    events (None: every table's). ``reserve_seconds``: retry waits never run into the last
    seconds of the invocation; the batch is then reported undone and Lambda retries it.
    """
    names = [s.name for s in subscriptions]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"subscription names must be unique: {', '.join(repeated)}")

    def route(converted: Converted, context: Any) -> dict[str, Any]:
        items, failed = converted
        events = [event for _, event in items]
        if events and not _deliver_all(events, context):
            failed = failed + [identifier for identifier, _ in items]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in dict.fromkeys(failed)]}

    def _deliver_all(events: list[RecordedEvent], context: Any) -> bool:
        sleep = deadline_sleep(context, reserve_seconds)
        done = True
        for subscription in subscriptions:
            if observer is not None:
                observer.lag(subscription.name, batch_lag(events))
            router = Router(
                subscription,
                store,
                versions=versions,
                parking=parking,
                observer=observer,
                sleep=sleep,
            )
            try:
                router.deliver(events)
            except Stopping:
                log.warning(
                    "out of time while retrying; Lambda retries the batch",
                    subscription=subscription.name,
                    events=len(events),
                )
                done = False
            except Exception as error:
                if observer is not None:
                    observer.failed(subscription.name, describe(error))
                log.exception(
                    "batch not done; Lambda retries it",
                    subscription=subscription.name,
                    events=len(events),
                    error=describe(error),
                )
                done = False
        return done

    def dynamodb_stream(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return route(dynamodb_stream_events(event, events_table), context)

    def kinesis(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return route(kinesis_events(event, events_table), context)

    def sqs(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return route(sqs_events(event), context)

    configure_lambda_logging()
    return RouterHandlers(
        logged_invocations(dynamodb_stream), logged_invocations(kinesis), logged_invocations(sqs)
    )


def batch_lag(events: Sequence[RecordedEvent]) -> Lag:
    """What an invocation knows of its subscription's lag: the events of its batch, the
    oldest of them committed this long ago (the event source mapping's IteratorAge says
    how far the shard is behind)."""
    oldest = min(event.recorded_at for event in events)
    return Lag(events=len(events), seconds=max(0.0, (datetime.now(UTC) - oldest).total_seconds()))


def deadline_sleep(context: Any, reserve_seconds: float) -> Sleep:
    """A retry wait that gives up (raises Stopping) rather than run into the invocation's
    last ``reserve_seconds`` (``context.get_remaining_time_in_millis``)."""
    remaining: Callable[[], int] | None = getattr(context, "get_remaining_time_in_millis", None)

    def sleep(seconds: float) -> None:
        if remaining is not None and remaining() / 1000.0 - seconds < reserve_seconds:
            raise Stopping
        time.sleep(seconds)

    return sleep


# -- records -> events ---------------------------------------------------------------------
def _records(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a Lambda batch event: no 'Records' list")
    return records


def dynamodb_stream_events(event: Mapping[str, Any], events_table: str | None) -> Converted:
    """A DynamoDB Streams event's records; item identifier = ``dynamodb.SequenceNumber``."""
    items: list[tuple[str, RecordedEvent]] = []
    for record in _records(event):
        identifier = str(record.get("dynamodb", {}).get("SequenceNumber", ""))
        table = table_of_stream_arn(str(record.get("eventSourceARN", "")))
        try:
            recorded = event_of_change(record, events_table, table=table)
        except StoreError as bad:
            log.warning(
                "skipping stream record: not an event item",
                sequence_number=identifier,
                error=str(bad),
            )
            continue
        if recorded is not None:
            items.append((identifier, recorded))
    return items, []


def kinesis_events(event: Mapping[str, Any], events_table: str | None) -> Converted:
    """A Kinesis event's records (Kinesis Data Streams for DynamoDB format); item
    identifier = ``kinesis.sequenceNumber``."""
    items: list[tuple[str, RecordedEvent]] = []
    for record in _records(event):
        kinesis = record.get("kinesis", {})
        identifier = str(kinesis.get("sequenceNumber", ""))
        try:
            data = base64.b64decode(kinesis.get("data", ""), validate=True)
            recorded = event_of_change(kinesis_change(data), events_table)
        except (StoreError, binascii.Error, ValueError) as bad:
            log.warning(
                "skipping Kinesis record: not an event item",
                sequence_number=identifier,
                error=str(bad),
            )
            continue
        if recorded is not None:
            items.append((identifier, recorded))
    return items, []


def sqs_events(event: Mapping[str, Any]) -> Converted:
    """An SQS event's messages (from the SQS / SNS targets); item identifier =
    ``messageId``. Messages that carry no event are failed at once."""
    items: list[tuple[str, RecordedEvent]] = []
    failed: list[str] = []
    for record in _records(event):
        identifier = str(record.get("messageId", ""))
        body, attributes = unwrap_sns(str(record.get("body", "")), lambda_sqs_attributes(record))
        try:
            items.append((identifier, event_of_message(body, attributes)))
        except CodecError as unreadable:
            log.warning("message carries no event", message_id=identifier, error=str(unreadable))
            failed.append(identifier)
    return items, failed
