"""Read-path benchmark: the reservation service's query model (``reservations_view``).

1. Projection throughput: events/s the live projection applies (router batches of 500, one
   transaction each) into SQLite and into MariaDB (127.0.0.1:3306, a fresh database).
2. Rebuild: events/s of ``eventfold rebuild`` (scan -> shadow tables -> swap) into SQLite
   (target >= 50,000 events/s) and MariaDB; the median of ``--rebuilds`` runs (default 3).
3. Freshness on the embedded default: commands go through the command handler at a paced
   rate (500/s for 10 s) while the in-process router (SQLite feed + worker) projects; for
   each command, commit time -> the moment its reservation row's version is visible to a
   reader (a poller thread reads the projection's versions table). Target p99 <= 50 ms.

Every run is bounded (well under 2 minutes). Prints a table and writes
bench/results/read_path.json.

    .venv/bin/python bench/read_path.py [--events 40000] [--rate 500] [--seconds 10] [--rebuilds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine

from eventfold import EventCodec, RecordedEvent, SqliteEventStore, StreamWrite
from eventfold.adapters.sqlite.feed import SqliteFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.router import MemoryRouterState, Worker, rebuild
from eventfold.sql import SqlProjection, create_engine, sqlite_url
from reservations.app import JSON_CODEC, make_handler, request_reservation, set_stock_level
from reservations.domain.reservation import RequestReservation, ReservationAccepted, StockSecured
from reservations.domain.stock import SetStockLevel, StockReserved
from reservations.projection import projection, subscription
from reservations.published_language import PROTOBUF_CODEC

RESULTS = Path(__file__).parent / "results"
MYSQL = ("127.0.0.1", 3306, "root")
T0 = datetime(2026, 5, 10, tzinfo=UTC)
SKUS = 1000


@dataclass
class Figure:
    name: str
    backend: str
    codec: str
    events: int
    seconds: float
    events_per_s: float


# -- data --------------------------------------------------------------------------------------


def fill(store: SqliteEventStore, events: int, codec: EventCodec) -> int:
    """About ``events`` events written straight to the store, 100 reservations per append:
    per reservation Accepted + Secured, plus the hold on one of 50 stock streams."""
    stocks = 50
    stock_versions = dict.fromkeys(range(stocks), 0)
    written = 0
    n = 0
    while written < events:
        writes: list[StreamWrite] = []
        held: dict[int, list[Any]] = {}
        for _ in range(100):
            n += 1
            rid, k = f"r{n}", n % stocks
            at = T0 + timedelta(seconds=n)
            accepted = ReservationAccepted(rid, f"c{n % 997}", f"s{k}", "sku", 1, at, at)
            secured = StockSecured(rid, at)
            encoded = [codec.encode(accepted), codec.encode(secured)]
            writes.append(StreamWrite(f"reservation-{rid}", 0, encoded, b"{}", "bench"))
            held.setdefault(k, []).append(codec.encode(StockReserved(f"s{k}", "sku", rid, 1)))
        for k, evs in held.items():
            writes.append(StreamWrite(f"stock-s{k}/sku", stock_versions[k], evs, b"{}", "bench"))
            stock_versions[k] += len(evs)
        store.append(*writes)
        written += sum(len(w.events) for w in writes)
    return written


def batches(store: SqliteEventStore, size: int = 500) -> Iterator[list[RecordedEvent]]:
    position = 0
    while batch := store.read_all(position, limit=size):
        position = batch[-1].position or position + len(batch)
        yield batch


# -- 1 and 2: projection and rebuild -------------------------------------------------------------


def project(
    store: SqliteEventStore,
    engine: Engine,
    backend: str,
    total: int,
    codec: EventCodec,
    codec_name: str,
    rebuilds: int,
) -> list[Figure]:
    view = projection(engine, codec)
    view.create_tables()
    loaded = list(batches(store))
    started = time.perf_counter()
    for batch in loaded:
        view.apply(batch)
    live = time.perf_counter() - started
    # A rebuild lasts about a second, so one slow moment of a shared VM moves it by 10%:
    # rebuild several times (each into fresh shadow tables) and report the median run.
    runs: list[tuple[float, int]] = []
    for _ in range(rebuilds):
        started = time.perf_counter()
        rebuilt = rebuild(subscription(view), store, MemoryRouterState())
        runs.append((time.perf_counter() - started, rebuilt))
    took, rebuilt = statistics.median_low(runs)
    print(
        f"  {backend} rebuild runs: " + ", ".join(f"{n / s:,.0f}" for s, n in runs) + " ev/s",
        flush=True,
    )
    return [
        Figure("projection (live, batches of 500)", backend, codec_name, total, live, total / live),
        Figure(
            "rebuild (scan -> shadow -> swap)", backend, codec_name, rebuilt, took, rebuilt / took
        ),
    ]


def mysql_engine() -> tuple[Engine, str] | None:
    host, port, user = MYSQL
    try:
        admin = pymysql.connect(host=host, port=port, user=user)
    except pymysql.err.OperationalError as exc:
        print(f"MariaDB at {host}:{port} unreachable ({exc}); MySQL figures skipped")
        return None
    name = f"ef_bench_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    admin.close()
    return create_engine(f"mysql+pymysql://{user}@{host}:{port}/{name}?charset=utf8mb4"), name


def drop_mysql(name: str) -> None:
    host, port, user = MYSQL
    admin = pymysql.connect(host=host, port=port, user=user)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


# -- 3: freshness --------------------------------------------------------------------------------


def freshness(folder: Path, rate: float, seconds: float) -> dict[str, Any]:
    """Paced commands through the handler while the in-process router projects."""
    store = SqliteEventStore(folder / "fresh.db")  # the embedded default: synchronous=FULL
    handler = make_handler(store, PROTOBUF_CODEC)
    engine = create_engine(sqlite_url(store.path), write_gate=store.write_gate)
    view: SqlProjection = projection(engine, PROTOBUF_CODEC)
    view.create_tables()
    # Realistic spread: a store's shelf holds a few units of many SKUs, and requests rarely
    # pile onto one SKU (seed 004). One SKU with millions of holds would measure the
    # growth of that stock's snapshot instead of the read path.
    skus = [f"sku{n}" for n in range(SKUS)]
    for sku in skus:
        set_stock_level(handler, SetStockLevel("s1", sku, 10_000, T0))
    state = SqliteRouterState(store.path, durability="normal", write_gate=store.write_gate)
    worker = Worker(
        [subscription(view)],
        SqliteFeed(store),
        store,
        checkpoints=state,
        versions=state,
        parking=state,
    )
    worker.start()

    committed: dict[str, float] = {}
    visible: dict[str, float] = {}
    pending: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        """A reader on its own plain connection: polls the projection's versions table for
        each committed reservation (cheap, so the harness does not starve the service)."""
        reader = sqlite3.connect(store.path)
        query = "SELECT stream_id FROM reservations_view_versions WHERE stream_id IN ({})"
        while not (done.is_set() and not pending):
            with lock:
                waiting = list(pending)
            if waiting:
                ids = [f"reservation-{r}" for r in waiting]
                marks = ",".join("?" * len(ids))
                seen = {row[0] for row in reader.execute(query.format(marks), ids)}
                now = time.perf_counter()
                with lock:
                    for rid in waiting:
                        if f"reservation-{rid}" in seen:
                            visible[rid] = now
                            pending.remove(rid)
            time.sleep(0.002)
        reader.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    late = 0
    count = 0
    for i in range(int(rate * seconds)):
        if time.perf_counter() - started > seconds:
            break  # the store cannot keep the pace: stop on time, report the achieved rate
        count += 1
        due = started + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            late += 1
        rid = f"f{i}"
        sku = skus[i % SKUS]
        request_reservation(handler, RequestReservation(rid, "c1", "s1", sku, 1, T0))
        now = time.perf_counter()
        with lock:
            committed[rid] = now
            pending.append(rid)
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join(30)
    worker.stop()
    state.close()
    store.close()
    lags = sorted((visible[r] - committed[r]) * 1000 for r in committed if r in visible)
    quantiles = statistics.quantiles(lags, n=100)
    return {
        "commands": count,
        "seconds": round(elapsed, 2),
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(count / elapsed, 1),
        "behind_schedule": late,
        "visible": len(lags),
        "p50_ms": round(statistics.median(lags), 2),
        "p99_ms": round(quantiles[98], 2),
        "max_ms": round(lags[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rebuilds", type=int, default=3, help="rebuild runs per backend; the median is reported"
    )
    args = parser.parse_args()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="eventfold-read-bench-") as tmp:
        folder = Path(tmp)
        for name, codec in (("protobuf", PROTOBUF_CODEC), ("json", JSON_CODEC)):
            source = SqliteEventStore(folder / f"events-{name}.db", durability="off")
            total = fill(source, args.events, codec)
            print(f"{name}: {total} events written; projecting", flush=True)
            query = create_engine(sqlite_url(folder / f"query-{name}.db"))
            figures += project(source, query, "sqlite", total, codec, name, args.rebuilds)
            mysql = mysql_engine()
            if mysql is not None:
                engine, database = mysql
                try:
                    figures += project(source, engine, "mysql", total, codec, name, args.rebuilds)
                finally:
                    engine.dispose()
                    drop_mysql(database)
            source.close()
        print("freshness run", flush=True)
        fresh = freshness(folder, args.rate, args.seconds)

    print(f"\n{'figure':<36} {'backend':<8} {'codec':<9} {'events':>8} {'seconds':>8} {'ev/s':>9}")
    for f in figures:
        print(
            f"{f.name:<36} {f.backend:<8} {f.codec:<9} {f.events:>8} {f.seconds:>8.2f} "
            f"{f.events_per_s:>9,.0f}"
        )
    print(
        f"\nfreshness (commit -> visible) at {fresh['achieved_rate_per_s']}/s for "
        f"{fresh['commands']} commands: p50 {fresh['p50_ms']} ms, p99 {fresh['p99_ms']} ms, "
        f"max {fresh['max_ms']} ms ({fresh['behind_schedule']} sent behind schedule)"
    )
    RESULTS.mkdir(exist_ok=True)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "projection": [asdict(f) for f in figures],
        "freshness": fresh,
        "note": "other processes (test runs) may share the machine",
    }
    (RESULTS / "read_path.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
