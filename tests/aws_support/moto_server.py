"""moto in SERVER mode on a free loopback port, reached through boto3 like real AWS.

It is moto's ThreadedMotoServer with one change: DynamoDB requests are served one at a
time. moto 5.2.5 runs TransactWriteItems without a lock (check the conditions, write, and
on a cancellation restore deep copies of the tables taken before), so two concurrent
transactions may both pass the same version condition, and a cancelled one erases what
another committed meanwhile. Real DynamoDB serializes conflicting transactions; serving
DynamoDB calls one by one gives tests that behaviour. Other services (SQS long polls,
Kinesis) stay concurrent.

One server per test process (xdist workers are processes, so they never share one); every
test that asks for ``aws`` starts from empty state (``POST /moto-api/reset``), because moto's
backends live in the process and grow on every TransactWriteItems. No boto3 patching: the
clients get ``endpoint_url`` and dummy credentials exactly as a deployment would.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

REGION = "us-east-1"


@dataclass
class MotoAws:
    """Where the moto server listens, and how to build clients for it."""

    endpoint_url: str
    region: str = REGION
    access_key: str = "testing"
    secret_key: str = "testing"
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the moto server (explicit dummy credentials),
        built once per server: building one costs ~0.2 s of model loading."""
        if service not in self._clients:
            self._clients[service] = boto3.session.Session().client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
            )
        return self._clients[service]

    def reset(self) -> None:
        """Forget every table, stream and queue."""
        self._post("/moto-api/reset", b"")

    def configure(self, config: dict[str, Any]) -> None:
        """Set moto's behaviour for the server's life (``POST /moto-api/config``), e.g.
        ``{"lambda": {"use_docker": False}}``: Invoke answers without running the code."""
        self._post("/moto-api/config", json.dumps(config).encode())

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(self.endpoint_url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class DynamoDBOneAtATime:
    """WSGI middleware: DynamoDB calls (X-Amz-Target DynamoDB_*) hold one lock while served."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


def start_moto(host: str = "127.0.0.1") -> tuple[BaseWSGIServer, threading.Thread]:
    """moto's server app on a free port of ``host``, serving in a daemon thread."""
    app = DynamoDBOneAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="moto")
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoAws]:
    # werkzeug logs every request to stderr; pytest's capture (and CliRunner) close it.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server, thread = start_moto()
    try:
        yield MotoAws(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def aws(moto_server: MotoAws, monkeypatch: pytest.MonkeyPatch) -> MotoAws:
    """A moto server with empty state, plus dummy credentials in the environment for code
    that builds its own clients (the CLI, settings-built stores)."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", moto_server.region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server
