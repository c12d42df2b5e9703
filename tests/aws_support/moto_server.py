"""moto in SERVER mode on a free loopback port, reached through boto3 like real AWS.

One server per test process (xdist workers are processes, so they never share one); every
test that asks for ``aws`` starts from empty state (``POST /moto-api/reset``), because moto's
backends live in the process and grow on every TransactWriteItems. No boto3 patching: the
clients get ``endpoint_url`` and dummy credentials exactly as a deployment would.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class MotoAws:
    """Where the moto server listens, and how to build clients for it."""

    endpoint_url: str
    region: str = REGION
    access_key: str = "testing"
    secret_key: str = "testing"

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the moto server (explicit dummy credentials)."""
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def reset(self) -> None:
        """Forget every table, stream and queue."""
        self._post("/moto-api/reset", b"")

    def configure(self, config: dict[str, Any]) -> None:
        """POST moto's runtime config (e.g. Step Functions execution)."""
        self._post("/moto-api/config", json.dumps(config).encode())

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(self.endpoint_url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoAws]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoAws(f"http://{host}:{port}")
    finally:
        server.stop()


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
