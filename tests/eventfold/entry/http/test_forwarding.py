"""Commands handed from one HTTP process to the writer (``eventfold.entry.http.forwarding``),
over real HTTP and a real Unix socket: each side served by uvicorn on loopback, and a
writer in a process of its own where a test kills it."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from eventfold.entry.http.forwarding import ForwardWrites, WriterEndpoint
from tests.eventfold.entry.http.live import served
from tests.waiting import LIMIT_SECONDS, eventually

LIMIT = 1024


class Recording:
    """An ASGI app that answers with who it is and what it was asked, and remembers it."""

    def __init__(self, name: str, on_request: Callable[[], object] = lambda: None) -> None:
        self.name = name
        self.on_request = on_request
        self.seen: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.release.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        seen = {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "headers": [[n.decode(), v.decode()] for n, v in scope["headers"]],
            "client": list(scope["client"]),
            "body": body.decode(),
        }
        self.seen.append(seen)
        self.on_request()
        if scope["path"] == "/wait":
            while not self.release.is_set():  # the writer's loop stays free meanwhile
                await asyncio.sleep(0.01)
        answer = json.dumps({"by": self.name, **seen}).encode()
        headers = [(b"content-type", b"application/json"), (b"x-served-by", self.name.encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "writer.sock")


@pytest.fixture
def writer(socket_path: str) -> Iterator[Recording]:
    app = Recording("writer")
    with served(WriterEndpoint(app, socket_path)):
        yield app


@pytest.fixture
def local() -> Recording:
    return Recording("local")


@pytest.fixture
def forwarder(local: Recording, socket_path: str) -> Iterator[httpx.Client]:
    with (
        served(ForwardWrites(local, socket_path, max_body_bytes=LIMIT)) as (host, port),
        httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as client,
    ):
        yield client


def test_a_write_is_served_by_the_writer_as_it_came_and_its_answer_relayed(
    writer: Recording, forwarder: httpx.Client
) -> None:
    response = forwarder.post(
        "/stores/s%201/stock?dry=1&x=%C3%A9",
        content=b'{"on_hand": 5}',
        headers={"X-Request-Id": "r-1", "Authorization": "Bearer t"},
    )
    assert response.status_code == 201
    assert response.headers["x-served-by"] == "writer"
    answer = response.json()
    assert answer["method"] == "POST"
    assert answer["path"] == "/stores/s 1/stock"
    assert answer["raw_path"] == "/stores/s%201/stock"
    assert answer["query"] == "dry=1&x=%C3%A9"
    assert answer["body"] == '{"on_hand": 5}'
    assert ["x-request-id", "r-1"] in answer["headers"]
    assert ["authorization", "Bearer t"] in answer["headers"]
    # The client the writer sees is the one that connected to the forwarding process.
    assert answer["client"][0] == "127.0.0.1"
    for method in ("PUT", "PATCH", "DELETE"):
        assert forwarder.request(method, "/x").headers["x-served-by"] == "writer"


def test_many_writes_at_once_each_get_their_own_answer(
    writer: Recording, forwarder: httpx.Client
) -> None:
    def post(n: int) -> tuple[int, str]:
        response = forwarder.post(f"/n/{n}", content=str(n).encode())
        return n, response.json()["body"]

    threads_out: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda n=n: threads_out.append(post(n))) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(threads_out) == [(n, str(n)) for n in range(40)]
    assert len(writer.seen) == 40


def test_reads_and_bodies_of_unknown_or_excessive_size_are_served_where_they_land(
    writer: Recording, local: Recording, forwarder: httpx.Client
) -> None:
    for method in ("GET", "HEAD", "OPTIONS"):
        assert forwarder.request(method, "/x").headers["x-served-by"] == "local"
    chunked = forwarder.post("/x", content=iter([b"a", b"b"]))  # Transfer-Encoding: chunked
    assert chunked.headers["x-served-by"] == "local"
    assert chunked.json()["body"] == "ab"
    large = forwarder.post("/x", content=b"x" * (LIMIT + 1))  # the app's own limit answers
    assert large.headers["x-served-by"] == "local"
    assert forwarder.post("/x", content=b"x" * LIMIT).headers["x-served-by"] == "writer"
    assert writer.seen[-1]["body"] == "x" * LIMIT


def test_writes_are_served_here_while_the_writer_is_away_and_handed_over_once_it_is_back(
    local: Recording, forwarder: httpx.Client, socket_path: str
) -> None:
    first = forwarder.post("/x", content=b"1")
    assert first.status_code == 201
    assert first.headers["x-served-by"] == "local"
    app = Recording("writer")
    with served(WriterEndpoint(app, socket_path)):
        eventually(
            "writes to be handed to the writer again",
            lambda: forwarder.post("/x", content=b"2").headers["x-served-by"] == "writer",
        )
    # Stopped: the socket is gone, and writes are served here again.
    assert not os.path.exists(socket_path)
    assert forwarder.post("/x", content=b"3").headers["x-served-by"] == "local"


def test_a_stopping_writer_finishes_the_writes_it_took(
    socket_path: str, forwarder: httpx.Client
) -> None:
    app = Recording("writer")
    app.release.clear()
    answers: list[httpx.Response] = []
    with served(WriterEndpoint(app, socket_path)):
        waiting = threading.Thread(target=lambda: answers.append(forwarder.post("/wait")))
        waiting.start()
        eventually("the writer to take the write", lambda: app.seen)
        threading.Timer(0.3, app.release.set).start()  # released while the writer stops
    waiting.join(10)
    assert [a.status_code for a in answers] == [201]
    assert answers[0].headers["x-served-by"] == "writer"


WRITER_PROCESS = """
import sys, uvicorn
from eventfold.entry.http.forwarding import WriterEndpoint
from tests.eventfold.entry.http.test_forwarding import Recording
app = Recording("writer", on_request=lambda: print("request", flush=True))
app.release.clear()
uvicorn.run(WriterEndpoint(app, sys.argv[1]), port=0, log_level="warning")
"""


def test_a_write_under_way_when_the_writer_is_killed_is_a_503_saying_the_outcome_is_unknown(
    socket_path: str, forwarder: httpx.Client
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER_PROCESS, socket_path],
        cwd=Path(__file__).parents[4],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually("the writer's socket", lambda: os.path.exists(socket_path))
        answers: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: answers.append(forwarder.post("/wait")))
        waiting.start()
        assert process.stdout is not None
        taken, _, _ = select.select([process.stdout], [], [], LIMIT_SECONDS)
        assert taken, "the writer did not take the write"
        assert process.stdout.readline() == b"request\n"  # under way in the writer
        os.kill(process.pid, signal.SIGKILL)
        waiting.join(10)
    finally:
        process.kill()
        process.wait()
    assert len(answers) == 1
    lost = answers[0]
    assert lost.status_code == 503
    assert lost.headers["content-type"] == "application/problem+json"
    assert lost.headers["retry-after"] == "1"
    problem = lost.json()
    assert problem["type"] == "urn:eventfold:problem:outcome-unknown"
    assert problem["instance"] == "/wait"
    assert "Idempotency-Key" in problem["detail"]
    # The killed writer left its socket file behind: writes are served here now.
    assert forwarder.post("/x").headers["x-served-by"] == "local"
