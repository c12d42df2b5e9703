"""Lambda entry points for the event router: DynamoDB Streams, Kinesis and SQS events, an
EventBridge Pipe's batches, and invocations from another function's Lambda target.

One factory, :func:`router_handlers`, builds the handlers from the same
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

``pipe``: the Lambda target of an EventBridge Pipe whose source is the DynamoDB stream, a
Kinesis stream or an SQS queue. A Pipe hands a bare JSON array of the source's records
(:mod:`eventfold.entry.aws_lambda.records`) and honours the same partial batch response,
keyed by ``eventID`` (streams) or ``messageId`` (SQS) — "For Lambda and Step Functions
targets, you can also specify a partial failure by returning a payload with a defined
structure" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html#pipes-partial-batch-failure).
Everything else is the path above: the same routers, versions, gap healing and parking.

``lambda_invocation``: the consumer side of :func:`eventfold.aws.lambda_target` (one
asynchronous invocation per event). The event goes through the same routers, so a duplicate
is skipped by version, an invocation that overtook an earlier one heals the gap from the
event store, and reactions perform each effect once (their effects ledger). Work not done
RAISES, so Lambda retries the invocation (twice, then its on-failure destination); a parked
stream is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from eventfold.adapters.aws.lambda_target import event_of_invocation
from eventfold.core.ports import EventStore
from eventfold.core.router.observer import RouterObserver
from eventfold.core.router.ports import AppliedVersions, Lag, ParkingLot, Subscription
from eventfold.core.router.router import Router, Sleep, Stopping, describe
from eventfold.domain.events import RecordedEvent
from eventfold.entry.aws_lambda.invocations import (
    LambdaHandler,
    PipeHandler,
    configure_lambda_logging,
    logged_invocations,
)
from eventfold.entry.aws_lambda.records import (
    Converted,
    dynamodb_stream_events,
    kinesis_events,
    lambda_records,
    pipe_events,
    sqs_events,
)
from eventfold.errors import CodecError, DeliveryFailed

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RouterHandlers:
    """The router's Lambda handlers, all running the same subscriptions."""

    dynamodb_stream: LambdaHandler
    kinesis: LambdaHandler
    sqs: LambdaHandler
    pipe: PipeHandler
    """An EventBridge Pipe's Lambda target: a bare array of records of any of the three."""
    lambda_invocation: LambdaHandler
    """The consumer of :func:`eventfold.aws.lambda_target`'s asynchronous invocations."""


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
        return route(dynamodb_stream_events(lambda_records(event), events_table), context)

    def kinesis(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return route(kinesis_events(lambda_records(event), events_table), context)

    def sqs(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return route(sqs_events(lambda_records(event)), context)

    def pipe(records: Sequence[Mapping[str, Any]], context: Any) -> dict[str, Any]:
        return route(pipe_events(records, events_table), context)

    def lambda_invocation(payload: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            event = event_of_invocation(payload)
        except CodecError as unreadable:
            # raised, not answered: Lambda retries it twice, then the function's
            # on-failure destination / dead-letter queue keeps it
            log.warning("invocation carries no event", error=str(unreadable))
            raise
        if not _deliver_all([event], context):
            raise DeliveryFailed(f"{event.key} not done; Lambda retries the invocation")
        return {"done": event.key}

    configure_lambda_logging()
    return RouterHandlers(
        logged_invocations(dynamodb_stream),
        logged_invocations(kinesis),
        logged_invocations(sqs),
        logged_invocations(pipe),
        logged_invocations(lambda_invocation),
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
