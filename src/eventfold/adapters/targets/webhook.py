"""Partner webhooks over HTTP (httpx): the :class:`WebhookSender` effect performer and
:func:`webhook_target`, a reaction that POSTs every event it is given.

Each call carries ``Idempotency-Key`` (derived from the effects-ledger key, so the same
event always sends the same key) and a ``Content-Type`` saying how the body is encoded
(JSON by default; protobuf when the service passes a protobuf :data:`PayloadEncoder`).
Outcomes: 2xx/3xx done; 5xx, 408, 429, timeouts and connection errors raise a retryable
``DeliveryFailed``; other 4xx raise ``DeliveryFailed(retryable=False)``, which parks the
stream (the partner refuses this request; retrying the same bytes cannot help).

Connections: one :class:`httpx.Client` per sender, shared by the reactions (threads) that
use it, keeps its connections alive between calls and batches (HTTP/1.1 keep-alive; idle
ones close after httpx's 5 s), so a batch of calls costs no TCP (or TLS) handshake each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

import httpx
import structlog

from eventfold.core.reactions.effects import PayloadEncoder, WebhookCall
from eventfold.core.reactions.reaction import EffectsLedger, Reaction, ReactionHandler
from eventfold.core.redaction import redact
from eventfold.domain.codecs import JSON_CONTENT_TYPE, EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed

log = structlog.stdlib.get_logger(__name__)

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_RETRYABLE_4XX = frozenset({408, 425, 429})


class _Redacting(logging.Filter):
    """Masks credentials in httpx's own log lines: it logs every request's URL at INFO
    (a webhook URL with user:password@ or ?token= showed up in the logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


_HTTPX_LOG_FILTER = _Redacting()


class WebhookSender:
    """Performs :class:`WebhookCall` effects. ``url`` None (unset): a call without its own
    URL is never marked done: it fails for good (the stream parks, its reason saying
    ``when_unset``, e.g. which setting to fill in), and ``eventfold parked redrive`` sends
    it once the URL is configured. Before, such calls were logged and recorded as done, so
    a shell without the setting could "deliver" a parked partner's backlog by redriving."""

    def __init__(
        self,
        url: str | None,
        *,
        when_unset: str = "no URL configured",
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url or None
        self.when_unset = when_unset
        self._headers = dict(headers or {})
        logging.getLogger("httpx").addFilter(_HTTPX_LOG_FILTER)  # once: the same filter
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout))

    def __call__(self, call: WebhookCall, idempotency_key: str) -> None:
        url = call.url or self.url
        if url is None:
            raise DeliveryFailed(
                f"webhook {call.key} not configured: {self.when_unset}", retryable=False
            )
        headers = {
            **self._headers,
            **call.headers,
            "Content-Type": call.content_type,
            IDEMPOTENCY_KEY_HEADER: idempotency_key,
        }
        shown = redact(url)  # the URL or the error may carry credentials
        try:
            response = self._client.post(url, content=call.body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(redact(f"webhook {shown}: timed out ({exc})")) from None
        except httpx.HTTPError as exc:
            # Not chained: httpx's own exception may name the URL or a header, and a
            # traceback logs it.
            raise DeliveryFailed(redact(f"webhook {shown}: {type(exc).__name__}: {exc}")) from None
        status = response.status_code
        if status < 400:
            return
        detail = redact(f"webhook {shown} answered {status}: {response.text[:200]}")
        if status >= 500 or status in _RETRYABLE_4XX:
            raise DeliveryFailed(detail)
        raise DeliveryFailed(detail, retryable=False)

    def close(self) -> None:
        self._client.close()


def json_payload(codec: EventCodec) -> PayloadEncoder:
    """A :data:`PayloadEncoder` sending an event as a JSON envelope:
    ``{"stream_id", "version", "type", "schema", "recorded_at", "metadata", "data"}``."""

    def encode(event: RecordedEvent) -> tuple[bytes, str]:
        envelope: dict[str, Any] = {
            "stream_id": event.stream_id,
            "version": event.version,
            "type": event.type,
            "schema": event.schema,
            "recorded_at": event.recorded_at.isoformat(),
            "metadata": dict(event.metadata),
            "data": codec.to_json(event),
        }
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        return body, JSON_CONTENT_TYPE

    return encode


def webhook_target(
    name: str,
    codec: EventCodec,
    sender: WebhookSender,
    ledger: EffectsLedger,
    *,
    encode: PayloadEncoder | None = None,
    url: str | None = None,
    only: Collection[type] | None = None,
) -> Reaction:
    """A reaction POSTing every event of the codec's types (or of the classes in ``only``),
    once per event (the ledger), with ``encode`` (default :func:`json_payload`) choosing
    the body and its content type; ``url`` overrides the sender's."""
    to_body = encode or json_payload(codec)

    def post(_: object, recorded: RecordedEvent) -> list[WebhookCall]:
        body, content_type = to_body(recorded)
        return [WebhookCall("webhook", body, content_type, url=url)]

    wanted = [entry.cls for entry in codec.types if only is None or entry.cls in only]
    handlers: dict[type, ReactionHandler] = dict.fromkeys(wanted, post)
    return Reaction(name, codec, handlers, {WebhookCall: sender}, ledger)
