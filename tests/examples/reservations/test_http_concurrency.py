"""The stock race over real HTTP: uvicorn on a loopback port, 50 concurrent httpx clients."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn

from eventfold import SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app
from reservations.app import make_handler, reservation_of, stock_of, stock_stream
from reservations.service import service

STOCK_UNITS = 20
CUSTOMERS = 50


@pytest.fixture
def base_url(tmp_path: Path, token_issuer: TokenIssuer) -> Iterator[str]:
    store = SqliteEventStore(tmp_path / "events.db")
    app = create_app([service], ServiceContext(store), authentication=token_issuer.authentication)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):  # wait for startup, not a timing assertion
        if server.started:
            started.set()
            break
        thread.join(0.01)
    assert started.is_set(), "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    listener.close()
    store.close()


def test_50_concurrent_http_requests_for_20_units(
    base_url: str, tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    inventory = token_issuer.headers("feed", "inventory")
    with httpx.Client(base_url=base_url, headers=inventory) as feed:
        assert feed.put("/stores/s1/stock/sku1", json={"on_hand": STOCK_UNITS}).status_code == 200
    start = threading.Barrier(CUSTOMERS)
    # One client shared by the threads (httpx clients are thread-safe; building 50 would
    # spend seconds on TLS contexts); its pool opens one connection per customer.
    limits = httpx.Limits(max_connections=CUSTOMERS, max_keepalive_connections=CUSTOMERS)
    client = httpx.Client(base_url=base_url, timeout=60, limits=limits)

    def customer(n: int) -> httpx.Response:
        body = {"customer_id": f"c{n}", "store_id": "s1", "sku": "sku1", "quantity": 1}
        headers = {"Idempotency-Key": f"k{n}", **token_issuer.headers(f"c{n}", "customer")}
        start.wait()
        return client.post("/reservations", json=body, headers=headers)

    with client, ThreadPoolExecutor(max_workers=CUSTOMERS) as pool:
        responses = list(pool.map(customer, range(CUSTOMERS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * STOCK_UNITS + [409] * (CUSTOMERS - STOCK_UNITS)
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["issues"][0]["code"] in ("out_of_stock", "concurrency_conflict")
    accepted = {r.json()["reservation_id"] for r in responses if r.status_code == 201}
    assert len(accepted) == STOCK_UNITS

    store = SqliteEventStore(tmp_path / "events.db")
    versions = [e.version for e in store.read(stock_stream("s1", "sku1"))]
    assert versions == list(range(1, STOCK_UNITS + 2))
    handler = make_handler(store, service.codec)
    final = stock_of(handler, "s1", "sku1")
    assert (final.available, final.held) == (0, STOCK_UNITS)
    holders = {rid for rid in accepted if reservation_of(handler, rid).holds_stock}
    assert holders == accepted
    store.close()
