"""Read-your-writes over real HTTP holds no worker thread: uvicorn on a loopback port, no
router (the query model never catches up), 200 reads waiting for a version the store has
but the query model will not show, 200 asking for a stream that never existed.

The never-existing ones are 404 at once; while the 200 others are still waiting, /healthz
and a command are answered; the waits end as 503 at their bound.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from eventfold import SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, migrate_query_model
from reservations.service import service
from tests.examples.callers import every_role, shared_issuer

WAITS = 200
READ_WAIT = 8.0
"""The bound of each wait: long, so that everything asserted below happens inside it."""


@pytest.fixture
def port(tmp_path: Path, token_issuer: TokenIssuer) -> Iterator[int]:
    store = SqliteEventStore(tmp_path / "events.db", durability="normal")
    context = ServiceContext(store, read_wait=READ_WAIT)
    migrate_query_model([service], context)
    # No runners: no router, the query model stays empty.
    app = create_app([service], context, authentication=token_issuer.authentication)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", backlog=4096)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(500):  # wait for startup, not a timing assertion
        if server.started:
            break
        thread.join(0.01)
    assert server.started, "uvicorn did not start"
    yield int(port)
    server.should_exit = True
    thread.join(10)
    listener.close()
    store.close()


AUTHORIZATION = "".join(f"{k}: {v}\r\n" for k, v in every_role(shared_issuer()).items())


async def call(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
    """One request on its own connection (a hand-written HTTP/1.1 exchange: httpx's pool
    takes seconds to open hundreds of connections at once, which would hide what is tested)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = b"" if body is None else json.dumps(body).encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{AUTHORIZATION}"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    writer.write(head.encode() + payload)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    return Reply(int(status_line.split()[1]), json.loads(content))


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def test_200_pending_waits_delay_neither_healthz_nor_a_command(port: int) -> None:
    async def scenario() -> None:
        stock = await call(port, "PUT", "/stores/s1/stock/k1", {"on_hand": 1000})
        assert stock.status == 200
        order = {"customer_id": "c1", "store_id": "s1", "sku": "k1", "quantity": 1}
        placed = (await call(port, "POST", "/reservations", order)).body
        rid, version = placed["reservation_id"], placed["version"]

        lagging = [
            asyncio.create_task(call(port, "GET", f"/reservations/{rid}?min_version={version}"))
            for _ in range(WAITS)
        ]
        never = [call(port, "GET", f"/reservations/never-{n}?min_version=1") for n in range(WAITS)]
        # Every never-existing stream: 404 at once (the bound is 8 s; they do not wait it).
        unknown = await asyncio.wait_for(asyncio.gather(*never), READ_WAIT / 2)
        assert {r.status for r in unknown} == {404}
        assert unknown[0].body["type"] == "urn:eventfold:problem:stream-not-found"
        assert unknown[0].body["stream_id"] == "reservation-never-0"

        beyond = await call(port, "GET", f"/reservations/{rid}?min_version={version + 5}")
        assert beyond.status == 404
        assert beyond.body["type"] == "urn:eventfold:problem:version-not-found"
        assert beyond.body["current_version"] == version

        health = await call(port, "GET", "/healthz")
        command = await call(port, "POST", "/reservations", order)
        stock_read = await call(port, "GET", "/stores/s1/stock/k1")  # a plain query, no wait
        assert health.status == 200
        assert command.status == 201, command.body
        assert stock_read.status == 404  # the query model never saw it: no router
        assert not any(t.done() for t in lagging), "the waits were still pending"

        ended = await asyncio.gather(*lagging)
        assert {r.status for r in ended} == {503}
        assert ended[0].body["visible_version"] == 0

    asyncio.run(scenario())
