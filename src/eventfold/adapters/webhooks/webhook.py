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
keep-alive receiver, 3,000 calls, on the machine of an earlier session):
``httpx.Client.post`` 550 us, httpcore or urllib3 310 us, :mod:`http.client` 105-148 us
(half of it parsing the response headers with the e-mail parser), this 33-44 us. A webhook
needs none of what the larger clients add (redirects are not followed, no cookies, no
HTTP/2); proxies from the environment are not read.

A batch's calls go out pipelined (:meth:`WebhookSender.perform_many`, which the reaction
uses for calls of distinct streams): up to :data:`PIPELINE_DEPTH` requests written in one
send, their answers read in order. Each call otherwise costs both sides a send, a wake-up
and a receive; on the slower 2-core CI machine of a later session (so not comparable
with the figures above), 20,000 calls to the bench's receiver cost this
sender 101 us of CPU each one at a time and 24 us through ``perform_many`` in rounds of
32, the receiver 89 and 37.
"""

from __future__ import annotations

import base64
import json
import re
import select
import socket
import ssl
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httptools

from eventfold.core.reactions.effects import NotAttempted, PayloadEncoder, WebhookCall
from eventfold.core.reactions.reaction import EffectsLedger, Reaction, ReactionHandler
from eventfold.core.redaction import redact
from eventfold.domain.codecs import JSON_CONTENT_TYPE, EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
_RETRYABLE_4XX = frozenset({408, 425, 429})


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF and other controls


PIPELINE_DEPTH = 32
"""At most this many calls (and :data:`PIPELINE_BYTES` of requests, unless one request is
larger) are sent together on one connection before their answers are read, so that the
socket buffers hold a round's requests while the partner's answers wait to be read (with
answers of a few hundred bytes each)."""
PIPELINE_BYTES = 64 * 1024


class _Responses:
    """httptools' callbacks for the responses on one connection: each one's status and
    body, in order, and whether the connection stays open after the last (asked while the
    parser still knows)."""

    __slots__ = ("answers", "body", "keep_alive", "parser", "status")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.body: list[bytes] = []
        self.answers: list[tuple[int, bytes]] = []
        self.keep_alive = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.status >= 200:  # not an interim answer (100 Continue, 103...)
            self.keep_alive = self.parser.should_keep_alive()
            self.answers.append((self.status, b"".join(self.body)))
        self.status = 0
        self.body = []


def _request(host: str, target: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """One POST's bytes; ValueError for a header that cannot be sent."""
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or _UNSAFE_VALUE.search(value):
            raise ValueError(f"header {name!r} cannot be sent (invalid name or value)")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + body


class _Connection:
    """One HTTP/1.1 connection to a partner origin, kept alive between calls."""

    def __init__(self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.fresh = True  # nothing sent on it yet

    def exchange(
        self, requests: Sequence[bytes]
    ) -> tuple[list[tuple[int, bytes]], bool, Exception | None]:
        """Send the requests together (HTTP/1.1 pipelining: the partner answers them in
        order) and read the answers. Returns (the answers read, in order: those of the
        first requests; whether the connection may be used again; the error that ended it
        before the last answer, else None)."""
        self.fresh = False
        responses = _Responses()
        answers = responses.answers
        error: Exception | None = None
        try:
            self.sock.sendall(b"".join(requests))
            while len(answers) < len(requests) and responses.keep_alive:
                data = self.sock.recv(65536)
                if not data:
                    if responses.status:  # a body that runs until the connection closes
                        answers.append((responses.status, b"".join(responses.body)))
                    responses.keep_alive = False
                    break
                responses.parser.feed_data(data)
        except (OSError, httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            error = exc
        if len(answers) > len(requests):
            # Answers to no request of ours (a stale one read first?): which answer is
            # whose is unknown, so none is taken.
            error = ConnectionError(f"{len(answers)} answers to {len(requests)} requests")
            return [], False, error
        if error is None and len(answers) < len(requests):  # the partner closed
            error = ConnectionResetError("the partner closed the connection")
        return answers, responses.keep_alive and error is None, error

    def stale(self) -> bool:
        """Whether the partner wrote or closed since the last answer (an idle timeout, a
        408): a kept-alive connection is then dropped rather than used."""
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

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
    One sender may be shared by the reactions' threads.

    :meth:`perform_many` pipelines the calls to one origin on its connection. A partner
    that does not answer pipelined requests on one connection (an HTTP/1.0 server closing
    after the first answer, one that drops the requests it did not read first) gets one
    call at a time from then on; the calls it left unanswered are sent again on a new
    connection (the Idempotency-Key makes that safe) or fail as a timeout does."""

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
        self._routes: dict[str, _Route] = {}
        self._one_at_a_time: set[str] = set()  # origins that do not answer pipelined calls

    def __call__(self, call: WebhookCall, idempotency_key: str) -> None:
        [failure] = self.perform_many([(call, idempotency_key)])
        if failure is not None:
            raise failure

    def perform_many(self, calls: Sequence[tuple[WebhookCall, str]]) -> list[Exception | None]:
        """Send every call; the outcome of each, in order: None when the partner took it
        (2xx/3xx), the ``DeliveryFailed`` saying why it failed (see the module doc), or
        ``NotAttempted`` for a call never sent because the partner failed before it."""
        unsent = NotAttempted("not sent: the partner failed before this call")
        outcomes: list[Exception | None] = [unsent] * len(calls)
        # origin -> (how to reach it, its calls: index, URL, request)
        by_origin: dict[str, tuple[_Route, list[tuple[int, str, bytes]]]] = {}
        for index, (call, key) in enumerate(calls):
            url = call.url or self.url
            if url is None:
                outcomes[index] = DeliveryFailed(
                    f"webhook {call.key} not configured: {self.when_unset}", retryable=False
                )
                continue
            try:
                route = self._route(url)
                headers = {
                    **route.auth,
                    **self._headers,
                    **call.headers,
                    "Content-Type": call.content_type,
                    IDEMPOTENCY_KEY_HEADER: key,
                }
                request = _request(route.host, route.target, call.body, headers)
            except ValueError as exc:
                outcomes[index] = _failed(url, exc)
                continue
            by_origin.setdefault(route.origin, (route, []))[1].append((index, url, request))
        for route, todo in by_origin.values():
            self._send(route, todo, outcomes)
        return outcomes

    def _send(
        self,
        route: _Route,
        todo: list[tuple[int, str, bytes]],
        outcomes: list[Exception | None],
    ) -> None:
        """Send ``todo`` (index, URL, request) to one origin, a round at a time, recording
        each outcome at its index."""
        origin = route.origin
        retried_idle = False
        while todo:
            try:
                conn = self._connection(route)
            except (OSError, ValueError) as exc:  # ValueError: a host name IDNA refuses
                index, url, _ = todo[0]
                outcomes[index] = _failed(url, exc)  # the others stay not attempted
                return
            round_ = _round(todo, 1 if origin in self._one_at_a_time else PIPELINE_DEPTH)
            fresh = conn.fresh
            try:
                answers, keep, error = conn.exchange([request for _, _, request in round_])
            except BaseException:
                self._drop(origin)
                raise
            for (index, url, _), (status, body) in zip(round_, answers, strict=False):
                outcomes[index] = _answered(url, status, body)
            unanswered = round_[len(answers) :]
            todo = todo[len(answers) :]
            if keep:  # kept alive and no error (exchange says so)
                continue
            self._drop(origin)
            if not todo:
                return
            # The connection ended with calls unanswered. Three cases: the partner does not
            # take pipelined calls (send the rest again, one at a time from now on); a
            # kept-alive connection it had closed while idle (send again once); anything
            # else (the unanswered calls fail).
            timed_out = isinstance(error, TimeoutError)
            if answers:
                # Closed, or silent, after some answers: a partner that answers one
                # pipelined request per connection, or none after the first, gets one call
                # at a time from now on (for the life of this sender).
                if (fresh and len(answers) == 1 and len(round_) > 1) or timed_out:
                    self._one_at_a_time.add(origin)
                if not timed_out:
                    continue  # sent again on a new connection (the Idempotency-Key)
            elif not fresh and not retried_idle and not timed_out:
                # A kept-alive connection the partner closed while idle fails on first
                # use: send again once on a new one.
                retried_idle = True
                continue
            # Nothing more goes to this origin now; the partner may be working on what it
            # was sent (a timeout: no second wait on top). Calls after the round stay not
            # attempted.
            assert error is not None
            for index, url, _ in unanswered:
                outcomes[index] = _failed(url, error)
            return

    def _route(self, url: str) -> _Route:
        """How to call a URL, worked out once: the parsing properties of a SplitResult
        (hostname, port...) parse the URL again on every access."""
        known = self._routes.get(url)
        if known is not None:
            return known
        route = _Route.of(url)
        if len(self._routes) < 1000:  # the partners' URLs: a handful
            self._routes[url] = route
        return route

    def _connection(self, route: _Route) -> _Connection:
        conn = self._connections.open.get(route.origin)
        if conn is not None:
            if not conn.stale():
                return conn
            self._drop(route.origin)
        if route.tls and self._tls is None:
            self._tls = ssl.create_default_context()
        conn = _Connection(
            route.hostname, route.port, self.timeout, self._tls if route.tls else None
        )
        with self._lock:
            self._every.append(conn)
        self._connections.open[route.origin] = conn
        return conn

    def _drop(self, origin: str) -> None:
        conn = self._connections.open.pop(origin, None)
        if conn is not None:
            conn.close()
            with self._lock:
                if conn in self._every:  # not if close() took them all meanwhile
                    self._every.remove(conn)

    def close(self) -> None:
        with self._lock:
            every, self._every = self._every, []
        for conn in every:
            conn.close()


class _Route:
    """A partner URL's parts: where to connect (``hostname``, ``port``, ``tls``), its origin
    (``scheme://host:port``), the Host header, the request target and, for
    ``user:password@`` in the URL, the basic auth header."""

    __slots__ = ("auth", "host", "hostname", "origin", "port", "target", "tls")

    def __init__(self, split: SplitResult, auth: dict[str, str]) -> None:
        self.auth = auth
        self.tls = split.scheme == "https"
        self.hostname = split.hostname or ""
        default_port = 443 if self.tls else 80
        self.port = split.port or default_port
        named = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        self.host = named if self.port == default_port else f"{named}:{self.port}"
        self.origin = f"{split.scheme}://{self.hostname}:{self.port}"
        self.target = (split.path or "/") + (f"?{split.query}" if split.query else "")

    @classmethod
    def of(cls, url: str) -> _Route:
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"not an http(s) URL: {split.scheme}://{split.netloc}")
        auth = {}
        if split.username is not None:  # user:password@ in the URL: HTTP basic auth
            pair = f"{unquote(split.username)}:{unquote(split.password or '')}".encode()
            auth = {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return cls(split, auth)


def _round(todo: list[tuple[int, str, bytes]], depth: int) -> list[tuple[int, str, bytes]]:
    """The first calls of ``todo`` sent together: at most ``depth`` of them and
    :data:`PIPELINE_BYTES` of requests, at least one."""
    size = 0
    for count, (_, _, request) in enumerate(todo[:depth]):
        size += len(request)
        if count and size > PIPELINE_BYTES:
            return todo[:count]
    return todo[:depth]


def _answered(url: str, status: int, body: bytes) -> DeliveryFailed | None:
    """The outcome of a partner's answer: None for 2xx/3xx."""
    if status < 400:
        return None
    # Masked only on failure (6 us, a sixth of a call's CPU, when done for every call):
    # the URL or the partner's answer may carry credentials.
    text = body.decode("utf-8", "replace")
    detail = redact(f"webhook {redact(url)} answered {status}: {text[:200]}")
    return DeliveryFailed(detail, retryable=status >= 500 or status in _RETRYABLE_4XX)


def _failed(url: str, error: Exception) -> DeliveryFailed:
    """A call that got no answer (or could not be sent), as a retryable failure."""
    if isinstance(error, TimeoutError):
        return DeliveryFailed(redact(f"webhook {redact(url)}: timed out ({error})"))
    # Not chained: the exception may name the URL or a header, and a traceback logs it.
    failure = f"{type(error).__name__}: {error}"
    return DeliveryFailed(redact(f"webhook {redact(url)}: {failure}"))


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
