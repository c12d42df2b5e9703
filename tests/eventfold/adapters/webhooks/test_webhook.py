from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine

from eventfold import DeliveryFailed
from eventfold.sql import SqlEffectsLedger, migrate
from eventfold.targets import WebhookCall, WebhookSender, webhook_target
from tests.contracts.target import CODEC, Observed, TargetContract, Tick, ticks
from tests.eventfold.adapters.webhooks.servers import WebhookReceiver, receiver
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
    peers: list[int] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            peers.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sender = WebhookSender(f"http://127.0.0.1:{server.server_address[1]}/", timeout=2)
    try:
        target = webhook_target("partner", CODEC, sender, ledger)
        target.apply(ticks("tick-a", 1, 3))
        target.apply(ticks("tick-b", 1, 3))
    finally:
        sender.close()
        server.shutdown()
        server.server_close()
    assert len(peers) == 6
    assert len(set(peers)) == 1


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
    answered: list[str] = []

    class OneRequestPerConnection(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            answered.append(self.headers["Idempotency-Key"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            self.wfile.flush()
            self.close_connection = True  # without saying "Connection: close"

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OneRequestPerConnection)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sender = WebhookSender(f"http://127.0.0.1:{server.server_address[1]}/", timeout=2)
    try:
        target = webhook_target("partner", CODEC, sender, ledger)
        target.apply(ticks("tick-a", 1, 3))
    finally:
        sender.close()
        server.shutdown()
        server.server_close()
    assert answered == [f"partner/tick-a:{v}/webhook" for v in (1, 2, 3)]
    statuses = [ledger.status("partner", f"tick-a:{v}/webhook") for v in (1, 2, 3)]
    assert [status[0] if status else None for status in statuses] == ["done"] * 3
