"""A partner that goes away and comes back: the worker's outage policy (from the settings)
parks nothing for a short outage and loses nothing for a long one.

The partner is a real HTTP server on loopback, stopped (connection refused) and started
again on the same port; the worker runs its subscriptions in threads over the SQLite tail,
posting through the webhook target with its effects ledger. The windows are small (set
through the EVENTFOLD_ settings) so the test runs in seconds.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from eventfold import SqliteEventStore, StreamWrite
from eventfold.adapters.sqlite.feed import SqliteFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.observer import NullObserver
from eventfold.core.router.ports import Subscription
from eventfold.core.router.worker import Worker
from eventfold.entry.settings import load_settings
from eventfold.sql import SqlEffectsLedger, migrate, sqlite_url
from eventfold.targets import WebhookSender, webhook_target
from tests.contracts.target import CODEC, Tick
from tests.loopback import free_port
from tests.waiting import eventually

STREAMS = ("tick-a", "tick-b", "tick-c")


class Partner:
    """A webhook receiver that can be down (nothing listens on its port) or up; counts the
    calls it accepted by Idempotency-Key."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.accepted: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with partner._lock:
                    partner.accepted[self.headers["Idempotency-Key"]] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self.accepted)


class Seen(NullObserver):
    def __init__(self) -> None:
        self.retried: Counter[str] = Counter()
        self.parked_streams: list[str] = []

    def retrying(self, subscription: str, stream_id: str, *args: Any, **kwargs: Any) -> None:
        self.retried[stream_id] += 1

    def parked(self, subscription: str, stream_id: str, *args: Any, **kwargs: Any) -> None:
        self.parked_streams.append(stream_id)


@pytest.fixture
def partner() -> Iterator[Partner]:
    partner = Partner()
    yield partner
    partner.down()


def commit(store: SqliteEventStore, stream_id: str, version: int) -> None:
    store.append(StreamWrite(stream_id, version - 1, [CODEC.encode(Tick(version))], b"{}", "t/1"))


def run_worker(
    tmp_path: Path, store: SqliteEventStore, partner: Partner, seen: Seen, **environ: str
) -> tuple[Worker, SqliteRouterState, WebhookSender]:
    outages = load_settings(environ).outages
    engine = create_engine(sqlite_url(tmp_path / "read.db"))
    migrate(engine)
    sender = WebhookSender(partner.url, timeout=0.5)
    target = webhook_target("partner", CODEC, sender, SqlEffectsLedger(engine))
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    worker = Worker(
        [Subscription("partner", target)],
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        observer=seen,
        poll_timeout=0.05,
        outages=outages,
    )
    worker.start()
    return worker, state, sender


def every_key(last_version: int) -> set[str]:
    return {f"partner/{s}:{v}/webhook" for s in STREAMS for v in range(1, last_version + 1)}


def test_a_short_outage_parks_nothing_and_each_call_arrives_once(
    tmp_path: Path, store: SqliteEventStore, partner: Partner
) -> None:
    for stream_id in STREAMS:
        commit(store, stream_id, 1)
        commit(store, stream_id, 2)
    seen = Seen()
    worker, state, sender = run_worker(
        tmp_path,
        store,
        partner,
        seen,
        EVENTFOLD_PARK_AFTER="60",
        EVENTFOLD_RETRY_FIRST_DELAY="0.02",
        EVENTFOLD_RETRY_MAX_DELAY="0.2",
    )
    try:
        # the partner is down: every stream is retried a few times (none blocks the others)
        eventually("retries of every stream", lambda: all(seen.retried[s] >= 3 for s in STREAMS))
        commit(store, "tick-a", 3)  # more work for a stream set aside: it waits in order
        partner.up()
        expected = every_key(2) | {"partner/tick-a:3/webhook"}
        eventually("every call accepted", lambda: set(partner.calls()) == expected)
    finally:
        worker.stop()
        sender.close()
    assert seen.parked_streams == []
    assert state.list_parked() == []
    assert set(partner.calls().values()) == {1}  # exactly once each
    assert state.checkpoint("partner") == str(store.head_position())
    state.close()


def test_a_long_outage_parks_then_the_slow_retry_delivers_everything_once(
    tmp_path: Path, store: SqliteEventStore, partner: Partner
) -> None:
    for stream_id in STREAMS:
        commit(store, stream_id, 1)
    seen = Seen()
    worker, state, sender = run_worker(
        tmp_path,
        store,
        partner,
        seen,
        EVENTFOLD_PARK_AFTER="0.3",
        EVENTFOLD_RETRY_FIRST_DELAY="0.02",
        EVENTFOLD_RETRY_MAX_DELAY="0.1",
        EVENTFOLD_RETRY_PARKED_EVERY="0.5",
    )
    try:
        eventually("every stream parked", lambda: state.parked_streams("partner") == set(STREAMS))
        for stream_id in STREAMS:  # committed while parked: they wait behind
            commit(store, stream_id, 2)
        eventually(
            "the new events parked behind",
            lambda: all(p.last_version == 2 for p in state.list_parked("partner")),
        )
        partner.up()
        eventually("every call accepted", lambda: set(partner.calls()) == every_key(2))
        eventually("nothing parked", lambda: not state.list_parked())
    finally:
        worker.stop()
        sender.close()
    assert set(partner.calls().values()) == {1}
    state.close()
