"""The Lambda -> Lambda target: each event is one asynchronous invocation of a function.

The seed's variant "a Lambda that invokes other Lambdas": the router calls Invoke with
InvocationType ``Event`` once per event; Lambda queues the invocation (202) and runs the
consumer function later, retrying it twice when it fails (then its on-failure destination
or dead-letter queue). The payload is JSON::

    {"stream_id": "order-7", "version": 3, "idempotency_key": "<target>/order-7:3",
     "body": "<the event as a message body>", "attributes": {"content_type": …, …}}

``body`` and ``attributes`` are exactly an SQS message's (:mod:`eventfold.adapters.aws.
messages`: the JSON envelope or base64 protobuf, and what it carries), so the consumer reads
it back with the same :func:`event_of_message`; the consumer's handler
(:func:`eventfold.aws.router_handlers` ``.lambda_invocation``) routes it through its own
router: versions, gap healing from the event store, parking, and the effects ledger of its
reactions make duplicates and out-of-order invocations harmless.

Delivery is at least once: an invocation Lambda accepted is never sent again by this target
unless the router redelivers the event (a failure elsewhere in its batch); async invocations
themselves may run more than once. Both reach the consumer as duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.messages import event_of_message, outbound_message
from eventfold.adapters.aws.service_calls import call_service
from eventfold.adapters.protobuf.outbound import OutboundFormat, outbound_format
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import CodecError, DeliveryFailed, EventfoldError, UnknownEventType

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024
"""Lambda's limit for an asynchronous invocation's payload (the conservative, long-standing
one; larger payloads belong in S3 with a reference in the event)."""


def wanted_types(codec: EventCodec, only: Collection[type] | None) -> frozenset[str]:
    """The registered names (aliases included) of the codec's types, or of those in
    ``only``: what a per-event target sends; other events pass by."""
    return frozenset(
        name
        for name in (entry.name for entry in codec.types)
        if only is None or codec.types.named(name).cls in only
    )


def sent_events(
    codec: EventCodec, wanted: frozenset[str], events: Sequence[RecordedEvent]
) -> list[RecordedEvent]:
    """The events to send: those of a wanted type. An event of a type the codec does not
    know raises UnknownEventType (the router parks its stream)."""
    chosen = []
    for event in events:
        if event.type not in codec.types:
            raise UnknownEventType(event.type)
        if codec.types.named(event.type).name in wanted:
            chosen.append(event)
    return chosen


def invocation_payload(
    codec: EventCodec, event: RecordedEvent, fmt: OutboundFormat, idempotency_key: str
) -> bytes:
    """The JSON payload of the invocation for ``event`` (see the module doc)."""
    message = outbound_message(codec, event, fmt)
    payload = {
        "stream_id": event.stream_id,
        "version": event.version,
        "idempotency_key": idempotency_key,
        "body": message.body,
        "attributes": dict(message.attributes),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def event_of_invocation(payload: Mapping[str, Any]) -> RecordedEvent:
    """The event an invocation payload carries. Raises CodecError when it carries none."""
    body, attributes = payload.get("body"), payload.get("attributes")
    if not isinstance(body, str) or not isinstance(attributes, Mapping):
        raise CodecError("not an eventfold invocation: no 'body' string and 'attributes' object")
    event = event_of_message(body, {str(k): str(v) for k, v in attributes.items()})
    if (event.stream_id, event.version) != (payload.get("stream_id"), payload.get("version")):
        raise CodecError(
            f"invocation names {payload.get('stream_id')}:{payload.get('version')} but "
            f"carries {event.key}"
        )
    return event


class LambdaTarget:
    """A Target invoking ``function`` (name, ARN or alias ARN) once per event of the codec's
    types (or of the classes in ``only``), in stream order, InvocationType ``Event``.
    Transient AWS failures are retried (3 attempts unless ``backoff`` says otherwise); a
    payload over 256 KiB or a refusal that retrying cannot help parks the stream."""

    def __init__(
        self,
        client: LambdaClient,
        function: str,
        codec: EventCodec,
        *,
        name: str = "lambda",
        format: OutboundFormat | str = OutboundFormat.JSON,
        only: Collection[type] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.function = function
        self.codec = codec
        self.format = outbound_format(format) if isinstance(format, str) else format
        self._client = client
        self._wanted = wanted_types(codec, only)
        self._backoff = backoff or Backoff(attempts=3)

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        for event in sent_events(self.codec, self._wanted, events):
            self._invoke(event)

    def idempotency_key(self, event: RecordedEvent) -> str:
        """``<target name>/<stream>:<version>``: the same for every redelivery."""
        return f"{self.name}/{event.key}"

    def _invoke(self, event: RecordedEvent) -> None:
        payload = invocation_payload(self.codec, event, self.format, self.idempotency_key(event))
        where = f"Lambda function {self.function}"
        if len(payload) > MAX_ASYNC_PAYLOAD_BYTES:
            raise DeliveryFailed(
                f"{where}: {event.key} is {len(payload)} bytes as a payload; the limit is "
                f"{MAX_ASYNC_PAYLOAD_BYTES} (256 KiB): send a reference instead",
                retryable=False,
            )

        def invoke() -> Mapping[str, Any]:
            return self._client.invoke(
                FunctionName=self.function, InvocationType="Event", Payload=payload
            )

        try:
            response = call_service(invoke, self._backoff, "Lambda", f"Invoke {self.function}")
        except EventfoldError as failed:
            raise DeliveryFailed(f"{where}: {event.key} not sent: {failed}") from failed
        status = int(response.get("StatusCode", 0))
        if status != 202:
            raise DeliveryFailed(f"{where}: {event.key} answered {status}, not 202 (queued)")


def lambda_target(
    client: LambdaClient,
    function: str,
    codec: EventCodec,
    *,
    name: str = "lambda",
    format: OutboundFormat | str = OutboundFormat.JSON,
    only: Collection[type] | None = None,
    backoff: Backoff | None = None,
) -> LambdaTarget:
    """A Target invoking ``function`` asynchronously once per event (see :class:`LambdaTarget`)."""
    return LambdaTarget(
        client, function, codec, name=name, format=format, only=only, backoff=backoff
    )
