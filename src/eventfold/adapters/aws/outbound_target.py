"""What the SQS and SNS targets share: encode, batch, send with retries, explain failures."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from eventfold.adapters.aws.errors import Backoff
from eventfold.adapters.aws.messages import (
    MAX_MESSAGE_BYTES,
    OutboundMessage,
    batches,
    fifo_id,
    outbound_message,
)
from eventfold.adapters.aws.service_calls import call_service
from eventfold.adapters.protobuf.outbound import OutboundFormat, outbound_format
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed, EventfoldError

SendBatch = Callable[[list[dict[str, Any]]], Mapping[str, Any]]
"""Sends one batch of entries; returns the response (``Successful`` / ``Failed``)."""


@dataclass(frozen=True, slots=True)
class BatchApi:
    """How one AWS service takes a batch of messages, e.g. SQS's SendMessageBatch."""

    service: str  # "SQS", in error messages
    operation: str  # "SendMessageBatch", in error messages
    destination: str  # "queue": what the address names, in error messages
    entries_parameter: str  # the request parameter holding the entries
    body_key: str  # the entry key holding the message body


def batch_target(
    call: Callable[..., Mapping[str, Any]],
    address: str,
    api: BatchApi,
    codec: EventCodec,
    *,
    format: OutboundFormat | str,
    name: str,
    backoff: Backoff | None,
) -> MessageTarget:
    """A MessageTarget sending through ``call`` (the client's batch method, bound to
    ``address``), FIFO when ``address`` ends in ``.fifo``. A batch is retried while AWS
    fails transiently (3 attempts unless ``backoff`` says otherwise)."""
    policy = backoff or Backoff(attempts=3)
    what = f"{api.operation} to {address}"

    def send(entries: list[dict[str, Any]]) -> Mapping[str, Any]:
        request = partial(call, **{api.entries_parameter: entries})
        return call_service(request, policy, api.service, what)

    return MessageTarget(
        name,
        f"{api.service} {api.destination} {address}",
        codec,
        format,
        fifo=address.endswith(".fifo"),
        body_key=api.body_key,
        send=send,
    )


class MessageTarget:
    """A Target that sends each event as one message. ``fifo``: entries carry
    MessageGroupId = stream id (order per stream) and MessageDeduplicationId =
    ``stream:version`` (a re-sent event within 5 minutes is dropped by AWS); either is
    hashed when it does not fit AWS's 128 printable characters."""

    def __init__(
        self,
        name: str,
        destination: str,
        codec: EventCodec,
        fmt: OutboundFormat | str,
        *,
        fifo: bool,
        body_key: str,
        send: SendBatch,
    ) -> None:
        self.name = name
        self.destination = destination
        self.codec = codec
        self.format = outbound_format(fmt) if isinstance(fmt, str) else fmt
        self.fifo = fifo
        self._body_key = body_key
        self._send = send

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        messages = [outbound_message(self.codec, e, self.format) for e in events]
        for message in messages:
            if message.size > MAX_MESSAGE_BYTES:
                raise DeliveryFailed(
                    f"{self.destination}: {message.event.key} is {message.size} bytes as a "
                    f"message; the limit is {MAX_MESSAGE_BYTES} (256 KiB): publish a "
                    "reference instead of the payload",
                    retryable=False,
                )
        for batch in batches(messages):
            self._send_batch(batch)

    def _send_batch(self, batch: list[OutboundMessage]) -> None:
        entries = [self._entry(str(n), m) for n, m in enumerate(batch)]
        try:
            response = self._send(entries)
        except EventfoldError as failed:
            keys = ", ".join(m.event.key for m in batch)
            raise DeliveryFailed(f"{self.destination}: not sent ({keys}): {failed}") from failed
        failures = response.get("Failed") or []
        if failures:
            raise partial_failure(self.destination, batch, failures)

    def _entry(self, entry_id: str, message: OutboundMessage) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": entry_id,
            self._body_key: message.body,
            "MessageAttributes": message.api_attributes(),
        }
        if self.fifo:
            entry["MessageGroupId"] = fifo_id(message.event.stream_id)
            entry["MessageDeduplicationId"] = fifo_id(message.event.key)
        return entry


def partial_failure(
    destination: str, batch: Sequence[OutboundMessage], failures: Sequence[Mapping[str, Any]]
) -> DeliveryFailed:
    """A DeliveryFailed naming every event AWS refused; retryable unless every refusal is
    the sender's fault (the same request would be refused again)."""
    described = []
    for failure in failures:
        index = int(failure.get("Id", -1))
        key = batch[index].event.key if 0 <= index < len(batch) else f"entry {index}"
        described.append(f"{key}: {failure.get('Code', '?')} {failure.get('Message', '')}".strip())
    retryable = not all(f.get("SenderFault") for f in failures)
    return DeliveryFailed(
        f"{destination}: {len(failures)} of {len(batch)} messages not accepted: "
        + "; ".join(described),
        retryable=retryable,
    )
