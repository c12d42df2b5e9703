from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine

from eventfold import DeliveryFailed
from eventfold.adapters.webhooks.webhook import PIPELINE_DEPTH
from eventfold.sql import SqlEffectsLedger, migrate
from eventfold.targets import WebhookCall, WebhookSender, webhook_target
from tests.contracts.target import CODEC, Observed, TargetContract, Tick, ticks
from tests.eventfold.adapters.webhooks.servers import WebhookReceiver, receiver, stdlib_partner
from tests.eventfold.entry.http.live import served
from tests.loopback import free_port

__all__ = ["receiver"]


@pytest.fixture
def ledger(engine: Engine) -> SqlEffectsLedger:
    migrate(engine)
    return SqlEffectsLedger(engine)


@pytest.fixture
def sender(receiver: WebhookReceiver) -> Iterator[WebhookSender]:
    sender = WebhookSender(receiver.base_url + "/ok", timeout=0.5)
    yield sender
    sender.close()


class TestWebhookTargetIsATarget(TargetContract):
    @pytest.fixture
    def target(self, sender: WebhookSender, ledger: SqlEffectsLedger) -> object:
        return webhook_target("partner", CODEC, sender, ledger, only={Tick})

    @pytest.fixture
    def observed(self, receiver: WebhookReceiver) -> Observed:
        def seen() -> dict[str, list[int]]:
            out: dict[str, list[int]] = {}
            for call in receiver.calls:
                envelope = call.envelope()
                out.setdefault(envelope["stream_id"], []).append(envelope["version"])
            return out

        return seen


def test_calls_carry_the_idempotency_key_and_content_type(
    receiver: WebhookReceiver, sender: WebhookSender, ledger: SqlEffectsLedger
) -> None:
    webhook_target("partner", CODEC, sender, ledger).apply(ticks("tick-a", 1, 1))
    [call] = receiver.calls
    assert call.headers["Idempotency-Key"] == "partner/tick-a:1/webhook"
    assert call.headers["Content-Type"] == "application/json"
    assert call.envelope()["data"] == {"n": 1}
    assert call.envelope()["type"] == "Tick"


def test_a_custom_encoder_chooses_body_and_content_type(
    receiver: WebhookReceiver, sender: WebhookSender, ledger: SqlEffectsLedger
) -> None:
    target = webhook_target(
        "partner",
        CODEC,
        sender,
        ledger,
        encode=lambda event: (event.key.encode(), "application/x-protobuf"),
    )
    target.apply(ticks("tick-a", 1, 1))
    [call] = receiver.calls
    assert (call.body, call.headers["Content-Type"]) == (b"tick-a:1", "application/x-protobuf")


def test_a_4xx_parks_and_is_not_marked_done(
    receiver: WebhookReceiver, sender: WebhookSender, ledger: SqlEffectsLedger
) -> None:
    target = webhook_target("partner", CODEC, sender, ledger, url=receiver.base_url + "/status/422")
    with pytest.raises(DeliveryFailed, match="422") as failure:
        target.apply(ticks("tick-a", 1, 1))
    assert failure.value.retryable is False
    assert ledger.status("partner", "tick-a:1/webhook") == ("pending", 1)


@pytest.mark.parametrize("path", ["/status/503", "/status/429", "/slow"])
def test_5xx_throttling_and_timeouts_are_retryable(
    receiver: WebhookReceiver, sender: WebhookSender, ledger: SqlEffectsLedger, path: str
) -> None:
    target = webhook_target("partner", CODEC, sender, ledger, url=receiver.base_url + path)
    with pytest.raises(DeliveryFailed) as failure:
        target.apply(ticks("tick-a", 1, 1))
    assert failure.value.retryable is True


def test_an_unreachable_partner_is_retryable() -> None:
    sender = WebhookSender(f"http://127.0.0.1:{free_port()}/", timeout=0.5)
    with pytest.raises(DeliveryFailed) as failure:
        sender(WebhookCall("k", b"{}", "application/json"), "key")
    assert failure.value.retryable is True


def test_without_a_url_the_call_fails_for_good_and_is_never_done(
    receiver: WebhookReceiver, ledger: SqlEffectsLedger
) -> None:
    # Before: logged "not sent" and recorded as done, so a redrive from a shell without
    # EVENTFOLD_WEBHOOKS "delivered" a partner's parked backlog into the void.
    sender = WebhookSender(None, when_unset="set EVENTFOLD_WEBHOOKS=partner=URL")
    target = webhook_target("partner", CODEC, sender, ledger)
    with pytest.raises(DeliveryFailed) as failure:
        target.apply(ticks("tick-a", 1, 1))
    assert failure.value.retryable is False  # parks at once, no retry storm
    assert "not configured: set EVENTFOLD_WEBHOOKS=partner=URL" in str(failure.value)
    assert receiver.calls == []
    assert ledger.status("partner", "tick-a:1/webhook") != ("done", 1)


def test_a_crash_before_completion_resends_with_the_same_key(
    receiver: WebhookReceiver, sender: WebhookSender, ledger: SqlEffectsLedger
) -> None:
    class CrashOnComplete(SqlEffectsLedger):
        crashed = False

        def settle(
            self,
            reaction: str,
            done: Collection[str],
            failed: Mapping[str, str] | None = None,
            released: Collection[str] = (),
        ) -> None:
            if not self.crashed:
                self.crashed = True
                raise RuntimeError("process died after the call")
            super().settle(reaction, done, failed, released)

    crashing = CrashOnComplete(ledger.engine)
    target = webhook_target("partner", CODEC, sender, crashing)
    with pytest.raises(RuntimeError):
        target.apply(ticks("tick-a", 1, 1))
    target.apply(ticks("tick-a", 1, 1))
    target.apply(ticks("tick-a", 1, 1))
    keys = [call.headers["Idempotency-Key"] for call in receiver.calls]
    assert keys == ["partner/tick-a:1/webhook"] * 2  # the documented window, same key
    assert ledger.status("partner", "tick-a:1/webhook") == ("done", 2)


def test_calls_reuse_one_kept_alive_connection(ledger: SqlEffectsLedger) -> None:
    with stdlib_partner() as partner:
        sender = WebhookSender(partner.base_url + "/", timeout=2)
        try:
            target = webhook_target("partner", CODEC, sender, ledger)
            target.apply(ticks("tick-a", 1, 3))
            target.apply(ticks("tick-b", 1, 3))
        finally:
            sender.close()
    assert len(partner.peers) == 6
    assert len(set(partner.peers)) == 1


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    receiver: WebhookReceiver,
) -> None:
    host = receiver.base_url.removeprefix("http://")
    sender = WebhookSender(f"http://partner:s3cr%40t@{host}/ok", timeout=2)
    try:
        sender(WebhookCall("k", b"{}", "application/json"), "key-1")
        failing = WebhookSender(f"http://partner:s3cr%40t@{host}/status/422", timeout=2)
        with pytest.raises(DeliveryFailed) as failure:
            failing(WebhookCall("k", b"{}", "application/json"), "key-2")
    finally:
        sender.close()
    assert receiver.calls[0].headers["Authorization"] == "Basic cGFydG5lcjpzM2NyQHQ="
    assert "s3cr" not in str(failure.value)


def test_a_connection_the_partner_closed_while_idle_is_replaced(ledger: SqlEffectsLedger) -> None:
    # The partner answers keep-alive, then drops every connection after one request (as
    # servers do with their idle timeout): the next call must not fail on the dead socket.
    with stdlib_partner(one_request_per_connection=True) as partner:
        sender = WebhookSender(partner.base_url + "/", timeout=2)
        try:
            webhook_target("partner", CODEC, sender, ledger).apply(ticks("tick-a", 1, 3))
        finally:
            sender.close()
    assert partner.keys == [f"partner/tick-a:{v}/webhook" for v in (1, 2, 3)]
    statuses = [ledger.status("partner", f"tick-a:{v}/webhook") for v in (1, 2, 3)]
    assert [status[0] if status else None for status in statuses] == ["done"] * 3


class RawPartner:
    """A partner answering every request with the bytes ``answer`` gives (its argument: the
    request's number from 1), written on the socket as they are: the responses a polite
    test server would not send. A tuple of byte strings is written in parts, 50 ms apart
    (separate reads for the sender). Pipelined requests are answered in order."""

    def __init__(
        self,
        answer: Callable[[int], bytes | tuple[bytes, ...]],
        *,
        close_after: bool = False,
        drop_pipelined: bool = False,
    ) -> None:
        self.answer = answer
        self.close_after = close_after
        self.drop_pipelined = drop_pipelined  # discards what came after the request read
        self.requests: list[bytes] = []
        self.ahead: list[int] = []  # bytes already received after each request, unread
        self.behind: list[int] = []  # ... and the requests among them whose head had come
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        # A sender may close a connection with answers it never read (reset by peer).
        with conn, contextlib.suppress(ConnectionError):
            pending = b""
            while True:
                head, _, rest = pending.partition(b"\r\n\r\n")
                if not _:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                    continue
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
                while len(rest) < length:
                    data = conn.recv(65536)
                    if not data:  # the sender hung up inside a body
                        return
                    rest += data
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                pending = b"" if self.drop_pipelined else rest[length:]
                self.ahead.append(len(rest) - length)
                self.behind.append(rest[length:].count(b"\r\n\r\n"))
                answer = self.answer(len(self.requests))
                for number, part in enumerate((answer,) if isinstance(answer, bytes) else answer):
                    if number:
                        time.sleep(0.05)
                    conn.sendall(part)
                if self.close_after:
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ],
    ids=["chunked", "interim-100", "no-body"],
)
def test_responses_framed_every_legal_way_are_read_on_one_connection(answer: bytes) -> None:
    partner = RawPartner(lambda _: answer)
    sender = WebhookSender(partner.url, timeout=2)
    try:
        for n in range(3):
            sender(WebhookCall("k", b'{"n":%d}' % n, "application/json"), f"key-{n}")
    finally:
        sender.close()
        partner.close()
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in partner.requests] == [
        b'{"n":0}',
        b'{"n":1}',
        b'{"n":2}',
    ]
    assert partner.connections == 1


def test_a_body_that_runs_until_close_and_a_connection_close_answer_are_read() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\n\r\nread until the partner closes",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    ]
    partner = RawPartner(lambda n: answers[(n - 1) % 2], close_after=True)
    sender = WebhookSender(partner.url, timeout=2)
    try:
        for n in range(4):
            sender(WebhookCall("k", b"{}", "application/json"), f"key-{n}")
    finally:
        sender.close()
        partner.close()
    assert len(partner.requests) == 4  # each answered once: no resend
    assert partner.connections == 4


def test_garbage_instead_of_http_is_a_retryable_failure() -> None:
    partner = RawPartner(lambda _: b"SMTP ready\r\n\r\n", close_after=True)
    sender = WebhookSender(partner.url, timeout=2)
    try:
        with pytest.raises(DeliveryFailed) as failure:
            sender(WebhookCall("k", b"{}", "application/json"), "key-1")
    finally:
        sender.close()
        partner.close()
    assert failure.value.retryable


def test_a_header_that_would_split_the_request_is_refused_before_sending() -> None:
    partner = RawPartner(lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    sender = WebhookSender(partner.url, timeout=2)
    smuggled = WebhookCall("k", b"{}", "application/json", headers={"X-A": "1\r\nX-B: 2"})
    try:
        with pytest.raises(DeliveryFailed, match="X-A"):
            sender(smuggled, "key-1")
        sender(WebhookCall("k", b"{}", "application/json"), "key-2")
    finally:
        sender.close()
        partner.close()
    assert len(partner.requests) == 1
    assert b"X-B" not in partner.requests[0]
    assert b"Host: 127.0.0.1:" in partner.requests[0]


def test_an_interim_answer_is_not_taken_for_the_answer() -> None:
    partner = RawPartner(
        lambda _: (
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
        )
    )
    sender = WebhookSender(partner.url, timeout=2)
    try:
        with pytest.raises(DeliveryFailed, match="503: busy") as failure:
            sender(WebhookCall("k", b"{}", "application/json"), "key-1")
    finally:
        sender.close()
        partner.close()
    assert failure.value.retryable


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def calls(count: int, first: int = 0) -> list[tuple[WebhookCall, str]]:
    return [
        (WebhookCall("k", b'{"n":%d}' % n, "application/json"), f"key-{n}")
        for n in range(first, first + count)
    ]


def bodies(partner: RawPartner) -> list[bytes]:
    return [r.rsplit(b"\r\n\r\n", 1)[1] for r in partner.requests]


def test_calls_to_one_partner_are_pipelined_on_one_connection() -> None:
    partner = RawPartner(lambda _: OK)
    sender = WebhookSender(partner.url, timeout=2)
    try:
        outcomes = sender.perform_many(calls(70))
    finally:
        sender.close()
        partner.close()
    assert outcomes == [None] * 70
    assert bodies(partner) == [b'{"n":%d}' % n for n in range(70)]  # once each, in order
    assert partner.connections == 1
    # Sent in rounds of PIPELINE_DEPTH: requests came with others behind them, never more
    # than the rest of a round, and each round's last waited for its answers. (How many
    # reads a round takes is up to loopback, so there may be more requests with none.)
    assert 0 < max(partner.behind) <= PIPELINE_DEPTH - 1
    assert sum(1 for ahead in partner.ahead if ahead == 0) >= 3


def test_each_pipelined_call_has_its_own_outcome() -> None:
    answers = {
        2: b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
        3: b"HTTP/1.1 422 No\r\nContent-Length: 2\r\n\r\nno",
    }
    partner = RawPartner(lambda n: answers.get(n, OK))
    unset = WebhookSender(None, when_unset="set the URL")
    sender = WebhookSender(partner.url, timeout=2)
    try:
        outcomes = sender.perform_many(calls(4))
        [missing] = unset.perform_many(calls(1))
    finally:
        sender.close()
        partner.close()
    assert outcomes[0] is None
    assert outcomes[3] is None
    busy, refused = outcomes[1], outcomes[2]
    assert isinstance(busy, DeliveryFailed)
    assert busy.retryable
    assert "503: busy" in str(busy)
    assert isinstance(refused, DeliveryFailed)
    assert not refused.retryable
    assert isinstance(missing, DeliveryFailed)
    assert "not configured: set the URL" in str(missing)
    assert partner.connections == 1


def test_a_partner_closing_after_each_answer_gets_every_call_once() -> None:
    # An HTTP/1.0-style partner: it answers the first request of a connection and closes,
    # never reading the others sent with it. They go again on new connections, and from
    # then on one at a time.
    partner = RawPartner(
        lambda _: b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        close_after=True,
    )
    sender = WebhookSender(partner.url, timeout=2)
    try:
        outcomes = sender.perform_many(calls(5))
        outcomes += sender.perform_many(calls(3, first=5))
    finally:
        sender.close()
        partner.close()
    assert outcomes == [None] * 8
    assert bodies(partner) == [b'{"n":%d}' % n for n in range(8)]
    assert partner.connections == 8
    assert partner.ahead[5:] == [0, 0, 0]  # the second batch: one call at a time


def test_a_partner_dropping_pipelined_calls_times_them_out_then_gets_one_at_a_time() -> None:
    partner = RawPartner(lambda _: OK, drop_pipelined=True)
    sender = WebhookSender(partner.url, timeout=0.5)
    try:
        outcomes = sender.perform_many(calls(3))
        later = sender.perform_many(calls(3, first=3))
    finally:
        sender.close()
        partner.close()
    assert outcomes[0] is None
    for failed in outcomes[1:]:
        assert isinstance(failed, DeliveryFailed)
        assert failed.retryable
        assert "timed out" in str(failed)
    assert later == [None] * 3
    assert bodies(partner) == [b'{"n":%d}' % n for n in (0, 3, 4, 5)]


def test_an_answer_the_partner_sent_while_idle_is_not_taken_for_the_next_call() -> None:
    # After answering, the partner writes a 408 and closes (an idle timeout): the next
    # calls go on a new connection, and the 408 is nobody's answer.
    first = (OK, b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n")
    partner = RawPartner(lambda n: first if n == 1 else OK)
    sender = WebhookSender(partner.url, timeout=2)
    try:
        assert sender.perform_many(calls(1)) == [None]
        time.sleep(0.3)  # the 408 arrives 50 ms after the answer
        outcomes = sender.perform_many(calls(2, first=1))
    finally:
        sender.close()
        partner.close()
    assert outcomes == [None, None]
    assert bodies(partner) == [b'{"n":%d}' % n for n in range(3)]
    assert partner.connections == 2


def test_a_protocol_switch_answer_fails_the_call_and_drops_the_connection() -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    partner = RawPartner(lambda n: switch if n == 1 else OK)
    sender = WebhookSender(partner.url, timeout=2)
    try:
        [switched] = sender.perform_many(calls(1))
        later = sender.perform_many(calls(2, first=1))
    finally:
        sender.close()
        partner.close()
    assert isinstance(switched, DeliveryFailed)
    assert switched.retryable
    assert later == [None, None]
    assert partner.connections == 2


def test_a_host_name_that_cannot_be_encoded_is_a_delivery_failure() -> None:
    sender = WebhookSender(f"http://{'a' * 64}.example.test/hook", timeout=0.5)
    with pytest.raises(DeliveryFailed):
        sender(WebhookCall("k", b"{}", "application/json"), "key-1")


def test_calls_after_a_refused_connection_are_taken_back_not_counted(
    ledger: SqlEffectsLedger,
) -> None:
    sender = WebhookSender(f"http://127.0.0.1:{free_port()}/", timeout=0.5)
    outcomes = sender.perform_many(calls(3))
    assert isinstance(outcomes[0], DeliveryFailed)
    assert [type(o).__name__ for o in outcomes[1:]] == ["NotAttempted", "NotAttempted"]
    target = webhook_target("partner", CODEC, sender, ledger)
    with pytest.raises(DeliveryFailed):
        target.apply([*ticks("tick-a", 1, 1), *ticks("tick-b", 1, 1), *ticks("tick-c", 1, 1)])
    assert ledger.status("partner", "tick-a:1/webhook") == ("pending", 1)
    assert ledger.status("partner", "tick-b:1/webhook") is None  # never sent
    assert ledger.status("partner", "tick-c:1/webhook") is None


@pytest.mark.parametrize("server", ["uvicorn", "http.server"])
def test_partners_on_common_servers_take_pipelined_calls_once_each(
    server: str, ledger: SqlEffectsLedger
) -> None:
    # Partners built on the usual Python servers: uvicorn (pipelined requests answered in
    # order) and the standard library's HTTP/1.1 server (reads them one after another).
    uvicorn_keys: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        uvicorn_keys.append(dict(scope["headers"])[b"idempotency-key"].decode())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    streams = [f"tick-{n}" for n in range(40)]
    batch = [e for stream in streams for e in ticks(stream, 1, 2)]  # as the router hands it
    with contextlib.ExitStack() as stack:
        if server == "uvicorn":
            host, port = stack.enter_context(served(app))
            base, keys = f"http://{host}:{port}", uvicorn_keys
        else:
            partner = stack.enter_context(stdlib_partner())
            base, keys = partner.base_url, partner.keys
        sender = WebhookSender(base + "/hook", timeout=2)
        stack.callback(sender.close)
        webhook_target("partner", CODEC, sender, ledger).apply(batch)
    assert sorted(keys) == sorted(f"partner/{e.key}/webhook" for e in batch)  # once each
    for stream in streams:  # each stream's calls in order
        assert keys.index(f"partner/{stream}:1/webhook") < keys.index(f"partner/{stream}:2/webhook")
