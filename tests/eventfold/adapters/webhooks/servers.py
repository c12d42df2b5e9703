"""Real receivers on loopback: an HTTP server recording webhook calls, and the standard
library's keep-alive server as a partner (the SMTP tests take a port from tests/loopback.py
and start their servers themselves)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    def envelope(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class WebhookReceiver:
    """Answers ``/ok`` 200, ``/status/<code>`` with that code, ``/slow`` after 1 s."""

    base_url: str
    calls: list[Call] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    calls: list[Call] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/slow":
                time.sleep(1)
            with lock:
                calls.append(Call(self.path, dict(self.headers.items()), body))
            status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
            # A client that timed out on /slow has hung up: its answer goes nowhere.
            with suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 400 else b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base_url:
        yield WebhookReceiver(base_url, calls)


@dataclass
class StdlibPartner:
    """What :func:`stdlib_partner` saw: each POST's ``Idempotency-Key`` and the client's
    port (one port: one connection), in arrival order."""

    base_url: str
    keys: list[str] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)


@contextmanager
def stdlib_partner(*, one_request_per_connection: bool = False) -> Iterator[StdlibPartner]:
    """The standard library's HTTP/1.1 server (keep-alive; pipelined requests read one after
    another) answering every POST 200. ``one_request_per_connection``: it closes each
    connection after its first answer, without saying ``Connection: close`` (as servers do
    at their idle timeout)."""
    seen = StdlibPartner("")

    class Partner(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.keys.append(self.headers["Idempotency-Key"])
            seen.peers.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            self.wfile.flush()
            self.close_connection = one_request_per_connection or self.close_connection

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Partner) as base_url:
        seen.base_url = base_url
        yield seen


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served on a free loopback port, a thread per connection, until the block
    ends; yields the server's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
