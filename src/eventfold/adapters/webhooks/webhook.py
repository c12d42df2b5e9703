"""Partner webhooks over HTTP: the :class:`WebhookSender` effect performer and
:func:`webhook_target`, a reaction that POSTs every event it is given.

Each call carries ``Idempotency-Key`` (derived from the effects-ledger key, so the same
event always sends the same key) and a ``Content-Type`` saying how the body is encoded
(JSON by default; protobuf when the service passes a protobuf :data:`PayloadEncoder`).
Outcomes: 2xx/3xx done; 5xx, 408, 429, timeouts and connection errors raise a retryable
``DeliveryFailed``; other 4xx raise ``DeliveryFailed(retryable=False)``, which parks the
stream (the partner refuses this request; retrying the same bytes cannot help).

Connections: one kept-alive HTTP/1.1 connection per partner origin and reaction thread,
reused between calls and batches (no TCP or TLS handshake per call), with the request
written here and the response read by httptools' parser (llhttp, the parser uvicorn
serves with). Measured on the router's hot path (CPU of the caller per call to a local
keep-alive receiver, 3,000 calls): ``httpx.Client.post`` 550 us, httpcore or urllib3
310 us, :mod:`http.client` 105-148 us (half of it parsing the response headers with the
e-mail parser), this 33-44 us. A webhook needs none of what the larger clients add
(redirects are not followed, no cookies, no HTTP/2); proxies from the environment are not
read.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import threading
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httptools

from eventfold.core.reactions.effects import PayloadEncoder, WebhookCall
from eventfold.core.reactions.reaction import EffectsLedger, Reaction, ReactionHandler
from eventfold.core.redaction import redact
from eventfold.domain.codecs import JSON_CONTENT_TYPE, EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_RETRYABLE_4XX = frozenset({408, 425, 429})


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF and other controls


class _Response:
    """httptools' callbacks for one response: status, body, whether it is complete and
    whether the connection stays open after it (asked while the parser still knows)."""

    __slots__ = ("body", "complete", "keep_alive", "parser", "status")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:  # an interim answer (100 Continue, 103...): the real one follows
            self.status = 0
            self.body.clear()
            return
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


class _Connection:
    """One HTTP/1.1 connection to a partner origin, kept alive between calls."""

    def __init__(self, url: SplitResult, timeout: float, tls: ssl.SSLContext | None) -> None:
        host = url.hostname or ""
        default_port = 443 if tls is not None else 80
        port = url.port or default_port
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        named = f"[{host}]" if ":" in host else host
        self.host = named if port == default_port else f"{named}:{port}"

    def post(self, target: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, bool]:
        """Send one POST and read its response: (status, body, connection still usable).
        OSError when the connection fails, ValueError for a header that cannot be sent,
        httptools.HttpParserError for a response that is not HTTP/1.x."""
        lines = [f"POST {target} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name) or _UNSAFE_VALUE.search(value):
                raise ValueError(f"header {name!r} cannot be sent (invalid name or value)")
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        self.sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        response = _Response()
        while not response.complete:
            data = self.sock.recv(65536)
            if not data:
                if response.status:  # a body that runs until the connection closes
                    return response.status, b"".join(response.body), False
                raise ConnectionResetError("the partner closed the connection")
            response.parser.feed_data(data)
        return response.status, b"".join(response.body), response.keep_alive

    def close(self) -> None:
        self.sock.close()


class _Connections(threading.local):
    """Each thread's kept-alive connections, by ``scheme://host:port``."""

    def __init__(self) -> None:
        self.open: dict[str, _Connection] = {}


class WebhookSender:
    """Performs :class:`WebhookCall` effects. ``url`` None (unset): a call without its own
    URL is never marked done: it fails for good (the stream parks, its reason saying
    ``when_unset``, e.g. which setting to fill in), and ``eventfold parked redrive`` sends
    it once the URL is configured. Before, such calls were logged and recorded as done, so
    a shell without the setting could "deliver" a parked partner's backlog by redriving.
    One sender may be shared by the reactions' threads."""

    def __init__(
        self,
        url: str | None,
        *,
        when_unset: str = "no URL configured",
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url or None
        self.when_unset = when_unset
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._connections = _Connections()
        self._every: list[_Connection] = []  # to close them all
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._routes: dict[str, tuple[SplitResult, str, str, str | None]] = {}

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
        try:
            status, text = self._post(url, call.body, headers)
        except TimeoutError as exc:
            raise DeliveryFailed(redact(f"webhook {redact(url)}: timed out ({exc})")) from None
        except (OSError, httptools.HttpParserError, ValueError) as exc:
            # Not chained: the exception may name the URL or a header, and a traceback
            # logs it.
            failure = f"{type(exc).__name__}: {exc}"
            raise DeliveryFailed(redact(f"webhook {redact(url)}: {failure}")) from None
        if status < 400:
            return
        # Masked only on failure (6 us, a sixth of a call's CPU, when done for every
        # call): the URL or the partner's answer may carry credentials.
        detail = redact(f"webhook {redact(url)} answered {status}: {text[:200]}")
        if status >= 500 or status in _RETRYABLE_4XX:
            raise DeliveryFailed(detail)
        raise DeliveryFailed(detail, retryable=False)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        split, origin, target, auth = self._route(url)
        if auth is not None:
            headers = {"Authorization": auth, **headers}
        for attempt in (1, 2):
            conn = self._connections.open.get(origin)
            reused = conn is not None
            if conn is None:
                conn = self._connect(split)
                self._connections.open[origin] = conn
            try:
                status, answer, keep = conn.post(target, body, headers)
            except TimeoutError:
                self._drop(origin)
                raise  # the partner may be working on it: no second wait on top
            except (OSError, httptools.HttpParserError):
                self._drop(origin)
                # A kept-alive connection the partner closed while idle fails on first
                # use: send again once on a new one (the Idempotency-Key makes it safe).
                if reused and attempt == 1:
                    continue
                raise
            if not keep:
                self._drop(origin)
            return status, answer.decode("utf-8", "replace")
        raise AssertionError("unreachable")

    def _route(self, url: str) -> tuple[SplitResult, str, str, str | None]:
        """(parts, origin, request target, basic auth header) of a URL, worked out once:
        the parsing properties of a SplitResult (hostname, port...) parse the URL again
        on every access."""
        known = self._routes.get(url)
        if known is not None:
            return known
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) URL: {split.scheme}://{split.netloc}")
        auth = None
        if split.username is not None:  # user:password@ in the URL: HTTP basic auth
            pair = f"{unquote(split.username)}:{unquote(split.password or '')}".encode()
            auth = f"Basic {base64.b64encode(pair).decode()}"
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        route = (split, f"{split.scheme}://{split.hostname}:{split.port}", target, auth)
        if len(self._routes) < 1000:  # the partners' URLs: a handful
            self._routes[url] = route
        return route

    def _connect(self, url: SplitResult) -> _Connection:
        if url.scheme == "https" and self._tls is None:
            self._tls = ssl.create_default_context()
        conn = _Connection(url, self.timeout, self._tls if url.scheme == "https" else None)
        with self._lock:
            self._every.append(conn)
        return conn

    def _drop(self, origin: str) -> None:
        conn = self._connections.open.pop(origin, None)
        if conn is not None:
            conn.close()
            with self._lock:
                self._every.remove(conn)

    def close(self) -> None:
        with self._lock:
            every, self._every = self._every, []
        for conn in every:
            conn.close()


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
