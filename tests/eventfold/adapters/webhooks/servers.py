"""Real receivers on loopback: an HTTP server recording webhook calls (the SMTP tests take
a port from tests/loopback.py and start their servers themselves)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield WebhookReceiver(f"http://127.0.0.1:{server.server_address[1]}", calls)
    server.shutdown()
    server.server_close()
