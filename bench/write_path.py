"""Write-path benchmark: eventfold's command handler vs the raw SQLite floor vs `eventsourcing`.

Every contender commits to a SQLite file in WAL mode with synchronous=FULL (SQLite's
default, and eventfold's): one fsync per commit. (eventfold's group commit lets concurrent
commands share a commit; one writer gets one commit per command like everyone else.)

- eventfold: the reservation service's ``set_stock_level`` through the CommandHandler with
  the service's own protobuf codec (load snapshot -> decide -> encode -> one transaction:
  state row + event row).
- floor: the same I/O by hand, no framework: BEGIN IMMEDIATE; read the state row; insert
  one event row; upsert the state row; COMMIT.
- eventsourcing (PyPI): repository.get -> aggregate method -> app.save, per command.

Workloads: one writer and 4 writers on 10 hot streams (conflicts, retries), and one writer
over 200 cold streams. Then an HTTP figure: 16 concurrent clients posting reservations to
`eventfold run` over loopback, with a token minted as bench/pipeline.py mints its caller's.
Prints a table and writes bench/results/write_path.json (``--out``); exits non-zero when
any HTTP request is refused.

    .venv/bin/python bench/write_path.py [--commands 3000] [--rounds 5] [--http-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from eventfold import ConcurrencyConflict, SqliteEventStore
from pipeline import ON_HAND, SKUS, STORE, free_port, mint_token
from reservations.app import make_handler, set_stock_level
from reservations.domain.stock import SetStockLevel
from reservations.published_language import PROTOBUF_CODEC

RESULTS = Path(__file__).parent / "results"


@dataclass
class Figure:
    name: str
    writers: int
    streams: int
    commands: int
    seconds: float
    commands_per_s: float
    p50_ms: float
    p99_ms: float


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figure(name: str, writers: int, streams: int, samples: list[float], elapsed: float) -> Figure:
    """The figure of ``samples`` (seconds per command) taken in ``elapsed`` seconds."""
    return Figure(
        name,
        writers,
        streams,
        len(samples),
        round(elapsed, 3),
        round(len(samples) / elapsed, 1),
        round(statistics.median(samples) * 1000, 3),
        round(percentile(samples, 0.99) * 1000, 3),
    )


def measure(
    name: str, command: Callable[[int, int], None], *, commands: int, writers: int, streams: int
) -> Figure:
    """Run ``commands`` calls of ``command(writer, i)`` split over ``writers`` threads."""
    latencies: list[list[float]] = [[] for _ in range(writers)]
    per_writer = commands // writers

    def run(writer: int) -> None:
        for i in range(per_writer):
            started = time.perf_counter()
            command(writer, i)
            latencies[writer].append(time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [s for chunk in latencies for s in chunk]
    return figure(name, writers, streams, samples, elapsed)


# -- contenders ------------------------------------------------------------------------------
class StockLevel(Aggregate):
    """The eventsourcing library's version of the stock level aggregate."""

    @event("Created")
    def __init__(self, key: str) -> None:
        self.key = key
        self.on_hand = 0

    @event("LevelSet")
    def set_level(self, on_hand: int) -> None:
        self.on_hand = on_hand


def eventfold_contender(folder: Path, streams: int) -> Callable[[int, int], None]:
    store = SqliteEventStore(folder / "eventfold.db", durability="full")
    handler = make_handler(store, PROTOBUF_CODEC, attempts=1000)
    now = datetime.now(UTC)

    def command(writer: int, i: int) -> None:
        n = random.randrange(streams)
        set_stock_level(handler, SetStockLevel("s1", f"sku{n}", random.randrange(1, 10**6), now))

    return command


FLOOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (position INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL,
  UNIQUE (stream_id, version));
CREATE TABLE IF NOT EXISTS states (stream_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
  state BLOB NOT NULL) WITHOUT ROWID;
"""


def floor_contender(folder: Path, streams: int) -> Callable[[int, int], None]:
    path = folder / "floor.db"
    local = threading.local()

    def conn() -> sqlite3.Connection:
        if not hasattr(local, "conn"):
            c = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA busy_timeout=30000")
            local.conn = c
        return local.conn  # type: ignore[no-any-return]

    conn().executescript(FLOOR_SCHEMA)

    def command(writer: int, i: int) -> None:
        c = conn()
        stream = f"stock-s1:sku{random.randrange(streams)}"
        on_hand = random.randrange(1, 10**6)
        c.execute("BEGIN IMMEDIATE")
        row = c.execute("SELECT version FROM states WHERE stream_id = ?", (stream,)).fetchone()
        version = (row[0] if row else 0) + 1
        data = json.dumps({"on_hand": on_hand}).encode()
        c.execute(
            "INSERT INTO events (stream_id, version, type, data) VALUES (?, ?, ?, ?)",
            (stream, version, "StockLevelSet", data),
        )
        c.execute(
            "INSERT INTO states VALUES (?, ?, ?) ON CONFLICT (stream_id) DO UPDATE "
            "SET version = excluded.version, state = excluded.state",
            (stream, version, data),
        )
        c.execute("COMMIT")

    return command


def eventsourcing_contender(folder: Path, streams: int) -> Callable[[int, int], None]:
    app: Application[Any] = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(folder / "eventsourcing.db"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    )
    ids = []
    for n in range(streams):
        aggregate = StockLevel(f"sku{n}")
        app.save(aggregate)
        ids.append(aggregate.id)

    def command(writer: int, i: int) -> None:
        aggregate_id = random.choice(ids)
        while True:  # get -> modify -> save, again on a conflict
            aggregate: StockLevel = app.repository.get(aggregate_id)
            aggregate.set_level(random.randrange(1, 10**6))
            try:
                app.save(aggregate)
                return
            except IntegrityError:
                continue

    return command


# -- HTTP ------------------------------------------------------------------------------------
def http_figure(folder: Path, seconds: float, clients: int = 16) -> Figure:
    port = free_port()
    env = {
        **os.environ,
        "EVENTFOLD_HOME": str(folder / "http"),
        "PORT": str(port),
        "EVENTFOLD_LOG_LEVEL": "warning",
    }
    eventfold = Path(sys.executable).parent / "eventfold"
    headers = {"Authorization": mint_token(eventfold, env)}  # as bench/pipeline.py's caller
    log = folder / "http-server.log"  # warnings and errors only: why a start failed
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(eventfold), "run"], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"eventfold run did not become healthy within 30 s:\n{tail}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
            for sku in SKUS:
                client.put(
                    f"/stores/{STORE}/stock/{sku}", json={"on_hand": ON_HAND}
                ).raise_for_status()
        latencies: list[float] = []
        failures: list[int] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def run_client() -> None:
            with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
                while time.monotonic() < stop_at:
                    body = {
                        "store_id": STORE,
                        "sku": random.choice(SKUS),
                        "quantity": 1,
                    }
                    started = time.perf_counter()
                    response = client.post("/reservations", json=body)
                    took = time.perf_counter() - started
                    with lock:
                        if response.status_code == 201:
                            latencies.append(took)
                        else:
                            failures.append(response.status_code)

        started = time.perf_counter()
        threads = [threading.Thread(target=run_client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if failures:  # a load that was refused measured the refusal, not the write path
            raise SystemExit(
                f"HTTP: {len(failures)} of {len(failures) + len(latencies)} requests failed, "
                f"statuses {sorted(set(failures))}; see {log}"
            )
        return figure("eventfold HTTP POST /reservations", clients, len(SKUS), latencies, elapsed)
    finally:
        server.terminate()
        server.wait(timeout=30)


# -- main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=3000, help="commands per round")
    parser.add_argument("--http-seconds", type=float, default=10.0, help="0 skips HTTP")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per workload")
    parser.add_argument("--out", type=Path, default=RESULTS / "write_path.json")
    args = parser.parse_args()

    contenders = {
        "eventfold": eventfold_contender,
        "floor": floor_contender,
        "eventsourcing": eventsourcing_contender,
    }
    # The workloads: one writer and 4 writers on 10 hot streams. One writer over 200
    # cold streams is reported too: short streams are where replaying libraries do best.
    workloads = [(1, 10), (4, 10), (1, 200)]
    targeted = {(1, 10), (4, 10)}
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="eventfold-bench-") as tmp:
        for writers, streams in workloads:
            # Contenders take turns, round after round, on fresh files: a disk or a
            # neighbour that is slower for a while slows every contender alike. Each
            # contender's median round is its figure.
            rounds: dict[str, list[Figure]] = {name: [] for name in contenders}
            for round_ in range(args.rounds):
                for name, build in contenders.items():
                    folder = Path(tmp) / f"{name}-{writers}w-{streams}s-{round_}"
                    folder.mkdir()
                    command = build(folder, streams)
                    print(
                        f"round {round_ + 1}/{args.rounds}: {name}, {writers} writer(s) on "
                        f"{streams} streams …",
                        flush=True,
                    )
                    rounds[name].append(
                        measure(
                            name,
                            command,
                            commands=args.commands,
                            writers=writers,
                            streams=streams,
                        )
                    )
            for runs in rounds.values():
                figures.append(sorted(runs, key=lambda f: f.commands_per_s)[len(runs) // 2])
        if args.http_seconds > 0:
            print(f"running HTTP: 16 clients for {args.http_seconds:.0f} s …", flush=True)
            figures.append(http_figure(Path(tmp), args.http_seconds))

    print()
    print(
        f"{'contender':36} {'writers':>7} {'streams':>7} {'cmd/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for f in figures:
        print(
            f"{f.name:36} {f.writers:>7} {f.streams:>7} {f.commands_per_s:>9.1f} "
            f"{f.p50_ms:>8.2f} {f.p99_ms:>8.2f}"
        )
    ratios = {}
    for writers, streams in workloads:
        by_name = {f.name: f for f in figures if f.writers == writers and f.streams == streams}
        ours = by_name["eventfold"].commands_per_s
        key = f"{writers}w_{streams}s"
        ratios[key] = {
            "vs_floor": round(ours / by_name["floor"].commands_per_s, 3),
            "vs_eventsourcing": round(ours / by_name["eventsourcing"].commands_per_s, 3),
        }
        if (writers, streams) in targeted:
            context = "targets: >= 0.8x, >= 3x"
        else:
            floor_vs_es = by_name["floor"].commands_per_s / by_name["eventsourcing"].commands_per_s
            context = f"not a target workload; the floor itself is {floor_vs_es:.2f}x eventsourcing"
        print(
            f"{key}: eventfold = {ratios[key]['vs_floor']:.2f}x the raw SQLite floor, "
            f"{ratios[key]['vs_eventsourcing']:.2f}x eventsourcing ({context})"
        )
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "write_path",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "sqlite": sqlite3.sqlite_version,
        },
        "durability": "WAL, synchronous=FULL",
        "figures": [asdict(f) for f in figures],
        "ratios": ratios,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    try:
        main()
    except ConcurrencyConflict as exc:  # a contender gave up: report it, do not hide it
        raise SystemExit(f"bench aborted: {exc}") from exc
