"""Request body limits over real HTTP (uvicorn on a loopback port): a body over the bound
is a 413 problem, answered without reading the rest, however the client sends it."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventfold import SqliteEventStore
from eventfold.web import ServiceContext, create_app
from tests.eventfold.entry.counters import service
from tests.eventfold.entry.http.live import served
from tests.examples.callers import shared_issuer

LIMIT = 64 * 1024
TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    store = SqliteEventStore(tmp_path / "eventfold.db")
    yield store
    store.close()


AUTHENTICATION = shared_issuer().authentication
AUTH = {"Authorization": f"Bearer {shared_issuer().token('tester', 'operator')}"}
"""The counter routes want a caller; the limit answers before anyone is asked who calls."""


@pytest.fixture
def server(store: SqliteEventStore) -> Iterator[tuple[str, int]]:
    app = create_app([service], ServiceContext(store), authentication=AUTHENTICATION)
    with served(app) as address:
        yield address


def too_large(status: int, content_type: str, body: dict[str, Any]) -> None:
    assert status == 413
    assert content_type == "application/problem+json"
    assert body["status"] == 413
    assert body["instance"] == "/counters/a/add"
    assert body["issues"][0]["code"] == "request_entity_too_large"
    assert str(LIMIT) in body["detail"]


def test_a_10_mb_body_is_a_413_problem_and_runs_nothing(
    server: tuple[str, int], store: SqliteEventStore
) -> None:
    host, port = server
    padding = "x" * TEN_MB
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=30, headers=AUTH) as client:
        response = client.post("/counters/a/add", json={"amount": 1, "note": padding})
        too_large(response.status_code, response.headers["content-type"], response.json())
        # The connection is still usable, and a body under the bound is served.
        ok = client.post("/counters/a/add", json={"amount": 1, "note": "hi"})
    assert ok.status_code == 200
    assert [e.version for e in store.read("counter-a")] == [1]


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One HTTP/1.1 response with a Content-Length, read off ``sock``."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the response: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response body"
        body += chunk
    return int(status_line.split()[1]), headers, json.loads(body)


def request_head(host: str, port: int, framing: str) -> bytes:
    return (
        f"POST /counters/a/add HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()


def test_a_declared_length_over_the_bound_is_refused_before_the_body_is_sent(
    server: tuple[str, int],
) -> None:
    host, port = server
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(request_head(host, port, f"Content-Length: {TEN_MB}"))
        sock.sendall(b'{"amount": 1, "note": "')  # then nothing: the server must not wait
        status, headers, body = read_response(sock)
    too_large(status, headers["content-type"], body)


def test_a_slow_chunked_body_is_cut_off_once_it_passes_the_bound(
    server: tuple[str, int], store: SqliteEventStore
) -> None:
    host, port = server
    piece = b"x" * 4096
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    with socket.create_connection(server, timeout=10) as sock:
        sock.sendall(request_head(host, port, "Transfer-Encoding: chunked"))
        while sent < TEN_MB:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the server answered: stop sending
                break
            sock.sendall(chunk)
            sent += len(piece)
            time.sleep(0.001)  # a slow client: the body arrives in many small reads
        status, headers, body = read_response(sock)
    too_large(status, headers["content-type"], body)
    assert sent < TEN_MB // 10, f"the server let {sent} bytes in before answering"
    assert store.read("counter-a") == []


def test_the_bound_is_the_app_s_parameter(store: SqliteEventStore) -> None:
    app = create_app(
        [service], ServiceContext(store), authentication=AUTHENTICATION, max_body_bytes=1024
    )
    with (
        served(app) as (host, port),
        httpx.Client(base_url=f"http://{host}:{port}", headers=AUTH) as client,
    ):
        small = client.post("/counters/a/add", json={"amount": 1, "note": "hi"})
        large = client.post("/counters/a/add", content=b" " * 1025 + b"{}")
    assert small.status_code == 200
    assert large.status_code == 413
    assert "1024" in large.json()["detail"]
