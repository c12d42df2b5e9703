"""Reactions benchmark: how fast the reservation service's three reaction subscriptions
drain a backlog (``reservations_mail``, ``reservations_staff``, ``reservations_inventory``).

``--events`` reservation events (ReservationAccepted + StockSecured per reservation) are
written straight to a SQLite event store; then each subscription, alone, drains them as the
worker does (SQLite feed, SQLite router state and effects ledger in the store's file, one
write gate): e-mails go over SMTP to the local aiosmtpd sink
(:mod:`eventfold.adapters.mail.mail_sink`), webhooks over HTTP to a minimal keep-alive
receiver. Sink and receiver run in their own processes so that they do not share the
reactions' GIL. Last, all three drain a fresh backlog together (one thread each, like
``eventfold worker``). Every effect is checked to have arrived exactly once. Besides
events/s, the CPU time the reactions' process spent per event (on a shared machine the
steadier figure: it is what the reactions take from the router's GIL).

Prints a table and writes bench/results/reactions.json.

    .venv/bin/python bench/reactions.py [--events 5000] [--profile-with py-spy]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventfold import SqliteEventStore, StreamWrite
from eventfold.adapters.mail.smtp import SmtpMailer
from eventfold.adapters.sqlite.feed import SqliteFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.entry.service import ServiceContext
from eventfold.router import Subscription, Worker
from eventfold.sql import create_engine, migrate, sqlite_url
from reservations.domain.reservation import ReservationAccepted, StockSecured
from reservations.published_language import PROTOBUF_CODEC
from reservations.reactions import (
    INVENTORY_WEBHOOK,
    STAFF_WEBHOOK,
    reaction_subscriptions,
)

RESULTS = Path(__file__).parent / "results"
T0 = datetime(2026, 5, 10, tzinfo=UTC)
NAMES = ("reservations_mail", "reservations_staff", "reservations_inventory")


@dataclass
class Figure:
    subscription: str
    run: str
    events: int
    effects: int
    seconds: float
    events_per_s: float
    cpu_ms_per_event: float


# -- the receivers, each in its own process -------------------------------------------------------

RECEIVER = r"""
import asyncio, sys
count = 0
async def serve(reader, writer):
    global count
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await reader.readexactly(length)
            count += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            if close or head.split(b"\r\n", 1)[0].endswith(b"HTTP/1.0"):
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def report(reader, writer):
    writer.write(str(count).encode())
    await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    counter = await asyncio.start_server(report, "127.0.0.1", int(sys.argv[2]))
    print("ready", flush=True)
    async with server, counter:
        await asyncio.gather(server.serve_forever(), counter.serve_forever())
asyncio.run(main())
"""

SINK = r"""
import sys, time
from eventfold.adapters.mail.mail_sink import start_mail_sink
sink = start_mail_sink(sys.argv[1], "127.0.0.1", int(sys.argv[2]))
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(script: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("a receiver did not start")
    return process


def webhooks_received(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port)) as s:
        return int(s.recv(64) or b"0")


# -- data ----------------------------------------------------------------------------------------


def fill(store: SqliteEventStore, events: int, prefix: str) -> int:
    """``events`` reservation events: per reservation Accepted, then Secured (reservation
    ids start with ``prefix``, so that each run sends e-mails of its own)."""
    codec = PROTOBUF_CODEC
    written = 0
    n = 0
    while written < events:
        writes: list[StreamWrite] = []
        for _ in range(min(100, (events - written) // 2)):
            n += 1
            rid, at = f"{prefix}{n}", T0 + timedelta(seconds=n)
            accepted = ReservationAccepted(rid, f"c{n % 997}", f"s{n % 50}", "sku", 1, at, at)
            encoded = [codec.encode(accepted), codec.encode(StockSecured(rid, at))]
            writes.append(StreamWrite(f"reservation-{rid}", 0, encoded, b"{}", "bench"))
        if not writes:
            break
        store.append(*writes)
        written += sum(len(w.events) for w in writes)
    return written


# -- one drain -----------------------------------------------------------------------------------


def drain(
    folder: Path,
    events: int,
    names: Sequence[str],
    smtp_port: int,
    webhook_port: int,
    prefix: str,
) -> tuple[float, float, SqliteEventStore]:
    """Fill a fresh store and let the subscriptions ``names`` drain it together; returns
    the seconds from start until every one of them caught up, and the CPU seconds this
    process (the reactions; not the sink and receiver) spent meanwhile."""
    store = SqliteEventStore(folder / "eventfold.db", durability="normal")
    fill(store, events, prefix)
    base = f"http://127.0.0.1:{webhook_port}"
    engine = create_engine(sqlite_url(store.path), write_gate=store.write_gate)
    migrate(engine)  # the effects ledger's table
    context = ServiceContext(
        store,
        query_engine=engine,
        send_email=SmtpMailer("127.0.0.1", smtp_port),
        webhook_urls={STAFF_WEBHOOK: base + "/staff", INVENTORY_WEBHOOK: base + "/inv"},
    )
    subscriptions: list[Subscription] = [
        s for s in reaction_subscriptions(context, PROTOBUF_CODEC) if s.name in names
    ]
    state = SqliteRouterState(store.path, durability="normal", write_gate=store.write_gate)
    feed = SqliteFeed(store)
    head = feed.poll("", limit=1, timeout=0)  # warm the feed up
    del head
    worker = Worker(
        subscriptions,
        feed,
        store,
        checkpoints=state,
        versions=state,
        parking=state,
        poll_timeout=0.05,
    )
    cpu = time.process_time()
    started = time.perf_counter()
    worker.start()
    try:
        while True:
            time.sleep(0.01)
            if all(feed.lag(state.checkpoint(n)).events == 0 for n in names):
                break
            if time.perf_counter() - started > 600:
                raise RuntimeError("the reactions did not catch up in 10 minutes")
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        worker.stop()
        state.close()
    return took, cpu, store


def count_mails(folder: Path) -> Counter[str]:
    keys: Counter[str] = Counter()
    for path in folder.glob("*.eml"):
        for line in path.read_bytes().split(b"\n"):
            if line.lower().startswith(b"x-idempotency-key:"):
                keys[line.split(b":", 1)[1].strip().decode()] += 1
                break
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument(
        "--only", choices=NAMES, action="append", help="run only these subscriptions alone"
    )
    parser.add_argument("--no-together", action="store_true", help="skip the run of all three")
    args = parser.parse_args()
    figures: list[Figure] = []
    smtp_port, webhook_port, count_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="eventfold-reactions-bench-") as tmp:
        folder = Path(tmp)
        sink = start(SINK, str(folder / "mail"), str(smtp_port))
        receiver = start(RECEIVER, str(webhook_port), str(count_port))
        try:
            runs: list[tuple[str, tuple[str, ...]]] = [(n, (n,)) for n in args.only or NAMES]
            if not args.no_together:
                runs.append(("all three together", NAMES))
            for label, names in runs:
                mails_before = sum(count_mails(folder / "mail").values())
                calls_before = webhooks_received(count_port)
                run_folder = folder / f"run-{len(figures)}"
                run_folder.mkdir()
                took, cpu, store = drain(
                    run_folder, args.events, names, smtp_port, webhook_port, f"run{len(figures)}-"
                )
                store.close()
                time.sleep(0.2)  # the last files land in the sink
                mails = sum(count_mails(folder / "mail").values()) - mails_before
                calls = webhooks_received(count_port) - calls_before
                expected_mails = args.events if "reservations_mail" in names else 0
                expected_calls = (args.events // 2) * sum(
                    n in names for n in ("reservations_staff", "reservations_inventory")
                )
                if (mails, calls) != (expected_mails, expected_calls):
                    print(
                        f"  WARNING {label}: {mails} mails (expected {expected_mails}), "
                        f"{calls} webhook calls (expected {expected_calls})"
                    )
                figure = Figure(
                    label,
                    "alone" if len(names) == 1 else "together",
                    args.events,
                    mails + calls,
                    round(took, 3),
                    round(args.events / took, 1),
                    round(cpu * 1000 / args.events, 3),
                )
                print(f"  {label}: {figure.events_per_s:,.0f} events/s", flush=True)
                figures.append(figure)
            duplicates = [k for k, c in count_mails(folder / "mail").items() if c > 1]
        finally:
            for process in (sink, receiver):
                process.kill()
                process.wait()
    print(
        f"\n{'subscription':<26} {'events':>7} {'effects':>8} {'seconds':>8} {'events/s':>9} "
        f"{'CPU ms/event':>13}"
    )
    for f in figures:
        print(
            f"{f.subscription:<26} {f.events:>7} {f.effects:>8} {f.seconds:>8.2f} "
            f"{f.events_per_s:>9,.0f} {f.cpu_ms_per_event:>13.3f}"
        )
    print(f"duplicate e-mails (same idempotency key twice): {len(duplicates)}")
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "reactions": [asdict(f) for f in figures],
        "duplicate_emails": len(duplicates),
        "note": "other processes (test runs) may share the machine",
    }
    (RESULTS / "reactions.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
