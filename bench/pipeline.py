"""End-to-end pipeline benchmark (issue 9): HTTP in, commit, projection, every reaction out.

The service is a black box: ``eventfold run`` started as ``make run`` starts it (a real
process on a free loopback port, a fresh EVENTFOLD_HOME, default settings, the local mail
sink writing ``EVENTFOLD_HOME/mail/*.eml``), with EVENTFOLD_WEBHOOKS pointing both
reservation webhooks at a local receiver this bench starts in its own process. The bench
only talks HTTP to it and reads files: the mail folder, and ``eventfold.db`` read-only
(which reservations were committed, the stock state row's size, the stock stream's events).

Phases, in one run:
1. ceiling: a no-op FastAPI route with the same body model (``async def``, uvicorn with
   uvloop + httptools when installed, no access log, one process); then the same no-op on
   the service's own HTTP protocol (one write per response), printed but not a denominator;
2. accepted: ``POST /reservations`` spread over 50 SKUs (16 connections, ``--seconds``);
3. completed: after the load, wait until every committed reservation is in the read model,
   has its customer e-mail in the sink and both webhooks at the receiver; the rate is
   reservations / (first request -> last effect). Each subscription's backlog when the load
   stopped, its drain time, and exactly-once (no duplicate e-mail or webhook);
4. reads: ``GET /reservations/{id}`` and the staff queue ``GET /stores/{store}/reservations``;
5. hot SKU: the same load on ONE SKU (409s, timeouts), the stock state row's size after 10
   and after 10,000 open holds, and the invariant (available = on_hand - held >= 0 at every
   version) replayed from the stock stream's events.

Load: wrk (Debian's package) when on PATH, else a multi-process http.client generator; the
bench says which, and whether the generator had CPU headroom. Each load of the service also
reports the cores each of its processes used (which HTTP process served it is up to the
kernel; see docs/performance.md), how long their threads waited for a free core, and how
busy the whole machine was: on 2 cores the service, the generator and the webhook receiver
share them, and a load that keeps every core busy is limited by CPU. Exits non-zero when an
effect is missing after the drain timeout, an effect was duplicated or the stock invariant
broke.
Prints a table (and progress on stderr) and writes bench/results/pipeline.json.

    .venv/bin/python bench/pipeline.py [--seconds 10] [--connections 16] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import http.client
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

RESULTS = Path(__file__).parent / "results"
STORE = "bench"
HOT_STORE = "hot"
HOT_SKU = "hot-1"
SKUS = [f"sku-{n:02d}" for n in range(50)]
ON_HAND = 1_000_000  # the API's maximum: nothing is refused for lack of stock
WEBHOOKS = ("reservations-staff", "reservations-inventory")  # reservations/reactions.py
TIMEOUT_S = 2.0  # a request unanswered after this counts as a timeout
TARGETS = {
    "accepted": "accepted >= 0.35x ceiling at p99 <= 50 ms",
    "completed": "completed >= 0.2x ceiling, every subscription <= 1 s behind at load stop",
    "exactly_once": "every effect delivered exactly once",
    "hot": "hot >= 0.5x accepted, no 409, no timeout",
    "hot_state": "state size after 10,000 holds within 2x of after 10",
    "hot_invariant": "available = on_hand - held >= 0 at every version",
    "reads": "reads >= 0.5x ceiling",
    "read_one": "GET /reservations/{id} >= 0.5x ceiling",
    "read_list": "the staff list >= 0.5x ceiling",
}


def say(message: str) -> None:
    print(f"[pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes -----------------------------------------------------------------------------------


def free_port(*, plus: int = 0) -> int:
    """A free loopback port; with ``plus``, port + plus is free too (the mail sink's)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not plus or port + plus > 65535:
            if not plus:
                return port
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + plus))
            except OSError:
                continue
        return port
    raise SystemExit("no free loopback port found")


class Processes:
    """Every subprocess the bench starts, each in its own process group; :meth:`stop_all`
    (when the ``with`` block ends) interrupts, then kills, every one of them."""

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            process = subprocess.Popen(
                list(argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        # whatever it left in its group (workers of a future topology)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        for _, process in reversed(list(self.running)):
            self.stop(process, grace=5.0)


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError, http.client.HTTPException):
            if get(base, path)[0] == 200:
                return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    raise SystemExit(f"{base}{path} did not answer 200 within 60 s; log tail:\n{tail}")


# -- small HTTP client (keep-alive) ------------------------------------------------------------


class Http:
    """One keep-alive connection; reconnects once on a dropped connection."""

    def __init__(self, base: str, timeout: float = 30.0, authorization: str = "") -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.timeout = host, int(port), timeout
        self.authorization = authorization
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        if self.authorization:
            headers["Authorization"] = self.authorization
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            try:
                return response.status, json.loads(data) if data else None
            except ValueError:
                return response.status, data.decode(errors="replace")
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def get(base: str, path: str) -> tuple[int, Any]:
    client = Http(base, timeout=5)
    try:
        return client.request("GET", path)
    finally:
        client.close()


# -- the webhook receiver and the ceiling app (run as `pipeline.py _hooks|_noop PORT`) ----------


def serve_hooks(port: int) -> None:
    """The webhook receiver, in its own process and GIL: an asyncio protocol parsing with
    httptools (uvicorn's parser) on uvloop when installed, keep-alive and pipelined
    requests answered in order. ``POST /<name>`` records (name, reservation id,
    Idempotency-Key, arrival time) and answers 200; ``GET /records?from=N`` returns the
    records from index N. It shares the 2-core machine with the service, so it is kept
    cheap: on asyncio's streams with the headers split in Python it used 0.18-0.23 of a
    core during the accepted load."""
    import httptools

    records: list[tuple[str, str, str, float]] = []
    ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"

    class Hook(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: asyncio.Transport | None = None
            self.url = b""
            self.key = b""
            self.body: list[bytes] = []

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                assert self.transport is not None
                self.transport.close()

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            if name.lower() == b"idempotency-key":
                self.key = value

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            target = self.url.decode("latin-1")
            if self.parser.get_method() == b"POST":
                try:
                    rid = str(json.loads(b"".join(self.body)).get("reservation_id", ""))
                except (ValueError, AttributeError):
                    rid = ""
                records.append((target.strip("/"), rid, self.key.decode("latin-1"), time.time()))
                answer = b"{}"
            else:
                start = int(target.partition("from=")[2] or 0)
                answer = json.dumps(records[start:]).encode()
            self.url, self.key, self.body = b"", b"", []
            assert self.transport is not None
            self.transport.write(ok % (len(answer), answer))
            if not self.parser.should_keep_alive():
                self.transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            Hook, "127.0.0.1", port, backlog=256
        )
        async with server:
            await server.serve_forever()

    loop, _ = ceiling_stack()
    with contextlib.suppress(KeyboardInterrupt):
        if loop == "uvloop":
            import uvloop

            uvloop.run(main())
        else:
            asyncio.run(main())


def file_cost_us(folder: Path, count: int = 500) -> float:
    """CPU microseconds to make one small file in ``folder`` (kept until the run's folder is
    deleted). The local mail sink makes one per e-mail. On ext4 without a journal (this
    project's CI machine) the kernel scans past every inode freed in the last minute (five,
    while the inode's block is not yet written back) when it makes a file: 15-65 us on a
    quiet file system (by machine), 100-860 us after a test run or another bench deleted
    thousands of files, which moved the router's CPU per reservation from 0.35 to
    0.55-0.70 ms (perf: ext4's recently_deleted) and let the mail reaction fall seconds
    behind (see :func:`settle_file_system`)."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.process_time()
    for n in range(count):
        with open(folder / f"probe-{n}.eml", "wb") as file:
            file.write(b"x" * 2000)
    return round((time.process_time() - started) * 1e6 / count, 1)


SLOW_FILE_US = 100.0
"""Above this, making a file pays for recently freed inodes (see :func:`file_cost_us`)."""


def settle_file_system(folder: Path, cost: float, bound: float) -> tuple[float, float]:
    """Wait (at most ``bound`` seconds) until making a file costs no more than
    :data:`SLOW_FILE_US` (it cost ``cost`` us just now): right after another run deleted
    thousands of files, ext4 without a journal scans them on every file made for a minute
    or more, and the router would pay it per e-mail. The figures should describe the
    service, not the run before. Returns (the cost now, the seconds waited)."""
    started = time.monotonic()
    while cost > SLOW_FILE_US and time.monotonic() - started < bound:
        time.sleep(10)
        cost = file_cost_us(folder / f"{time.monotonic():.0f}")
        say(f"file system settling: a file costs {cost} us ({time.monotonic() - started:.0f} s)")
    return cost, round(time.monotonic() - started, 1)


def ceiling_stack() -> tuple[str, str]:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http_impl = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http_impl


def serve_noop(port: int, *, one_write: bool = False) -> None:
    """The ceiling: the reservation route's body model, an ``async def`` that does nothing,
    on the best configuration of the service's own stack. ``one_write``: with the HTTP
    protocol `eventfold run` serves with (one socket write per response), a figure printed
    beside the ceiling; the ratios stay to stock uvicorn's, as issue 9 defines them."""
    import uvicorn
    from fastapi import FastAPI, status

    from reservations.http import ReservationRequest  # the route's own body model

    app = FastAPI()

    async def noop(body: ReservationRequest) -> dict[str, Any]:
        return {"reservation_id": "noop", "version": 1}

    # imported here (the receiver process need not load FastAPI), so the string annotation
    # of this module's ``from __future__ import annotations`` is resolved by hand
    noop.__annotations__["body"] = ReservationRequest
    app.post("/reservations", status_code=status.HTTP_201_CREATED)(noop)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    loop, http_impl = ceiling_stack()
    protocol: Any = http_impl
    if one_write:
        from eventfold.entry.http.one_write import OneWriteHttpProtocol

        protocol = OneWriteHttpProtocol
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop=loop,
        http=protocol,
        access_log=False,
        log_level="warning",
    )


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    """What one load run measured."""

    name: str
    generator: str
    connections: int
    seconds: float
    requests: int
    rate: float  # responses per second (every status)
    ok: int  # 2xx
    ok_rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    timeouts: int
    socket_errors: int
    generator_cpu: float  # cores the generator used on average
    generator_busy: float  # of its threads/processes: cpu / (wall * workers)
    started_at: float = 0.0  # wall clock
    stopped_at: float = 0.0
    service_cores: dict[str, float] = field(default_factory=dict)  # per process of the service
    # cores' worth of time the service's threads were ready to run but waited for a core
    service_waits: dict[str, float] = field(default_factory=dict)
    machine_cores: float = 0.0  # cores busy on the whole machine (every process), on average
    receiver_cores: float = 0.0  # the bench's webhook receiver (it shares the machine too)
    # "one": one HTTP process served the load; "split": more than one did (see placement())
    placement: str = ""


@dataclass
class Work:
    """Requests to send: POST bodies (``store``/``skus``) or GET ``paths``."""

    store: str = STORE
    skus: Sequence[str] = ()
    paths: Sequence[str] = ()
    authorization: str = ""
    """The Authorization header every request sends (the caller's bearer token)."""


def lua_list(items: Sequence[str]) -> str:
    return "{" + ",".join(json.dumps(i) for i in items) + "}"


WRK_SCRIPT = """
local skus = %(skus)s
local paths = %(paths)s
local store = %(store)s
local authorization = %(authorization)s
local threads = {}
local next_id = 0
counter = 0
tid = 0
statuses = {}

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  if authorization ~= "" then wrk.headers["Authorization"] = authorization end
end

function request()
  counter = counter + 1
  if #paths > 0 then
    return wrk.format("GET", paths[(counter * 7 + tid) %% #paths + 1])
  end
  local sku = skus[(counter + tid) %% #skus + 1]
  local body = string.format('{"store_id":"%%s","sku":"%%s","quantity":1}', store, sku)
  return wrk.format("POST", "/reservations", nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do
      local k = tostring(code)
      codes[k] = (codes[k] or 0) + n
    end
  end
  local parts = {}
  for k, n in pairs(codes) do table.insert(parts, string.format('"%%s":%%d', k, n)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"duration_us":%%d,"requests":%%d,"p50_us":%%d,"p99_us":%%d,' ..
    '"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"statuses":{%%s}}\\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
"""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    name: str,
    base: str,
    work: Work,
    connections: int,
    seconds: float,
    folder: Path,
    stop_when: Callable[[], bool] | None = None,
) -> Load:
    threads = min(2, connections)
    script = folder / f"{name}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "skus": lua_list(work.skus),
            "paths": lua_list(work.paths),
            "authorization": json.dumps(work.authorization),
            "store": json.dumps(work.store),
        }
    )
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, math.ceil(seconds))}s",
        f"--timeout={TIMEOUT_S:g}s",
        "-s",
        str(script),
        base + "/reservations",
    ]
    cpu = children_cpu()
    started, wall = time.time(), time.perf_counter()
    wrk = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    try:
        if stop_when is not None:
            while wrk.poll() is None:
                if stop_when():
                    wrk.send_signal(signal.SIGINT)  # wrk stops and reports what it measured
                    break
                time.sleep(0.05)
        out, _ = wrk.communicate(timeout=seconds + 60)
    finally:
        if wrk.poll() is None:  # the bench was interrupted or failed
            wrk.kill()
            wrk.wait()
    elapsed, stopped = time.perf_counter() - wall, time.time()
    used = children_cpu() - cpu
    text = out.decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("BENCH-JSON ")), None)
    if wrk.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{text[-2000:]}")
    r = json.loads(line.removeprefix("BENCH-JSON "))
    took = r["duration_us"] / 1e6
    ok = sum(n for code, n in r["statuses"].items() if code.startswith("2"))
    return Load(
        name=name,
        generator="wrk",
        connections=connections,
        seconds=round(took, 2),
        requests=r["requests"],
        rate=round(r["requests"] / took, 1),
        ok=ok,
        ok_rate=round(ok / took, 1),
        p50_ms=round(r["p50_us"] / 1000, 2),
        p99_ms=round(r["p99_us"] / 1000, 2),
        statuses=dict(sorted(r["statuses"].items())),
        timeouts=r["timeout"],
        socket_errors=r["connect"] + r["read"] + r["write"],
        generator_cpu=round(used / elapsed, 2),
        generator_busy=round(used / elapsed / threads, 2),
        started_at=started,
        stopped_at=stopped,
    )


def _client_process(
    base: str,
    work: Work,
    first: int,
    connections: int,
    deadline: float,
    stop: Any,
    results: Any,
) -> None:
    """One process of the fallback generator: ``connections`` threads, one keep-alive
    http.client connection each."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    errors = Counter[str]()
    lock = threading.Lock()

    headers = {"Content-Type": "application/json"}
    if work.authorization:
        headers["Authorization"] = work.authorization

    def client(number: int) -> None:
        host, port = base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
        n = 0
        while time.time() < deadline and not stop.is_set():
            n += 1
            if work.paths:
                method, path, body = "GET", work.paths[(n * 7 + number) % len(work.paths)], None
            else:
                sku = work.skus[(n + number) % len(work.skus)]
                payload = {"store_id": work.store, "sku": sku, "quantity": 1}
                body = json.dumps(payload).encode()
                method, path = "POST", "/reservations"
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except TimeoutError:
                with lock:
                    errors["timeout"] += 1
                conn.close()
                continue
            except (OSError, http.client.HTTPException):
                with lock:
                    errors["socket"] += 1
                conn.close()
                time.sleep(0.01)
                continue
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                statuses[str(response.status)] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(first + i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((latencies, dict(statuses), dict(errors)))


def run_python(
    name: str,
    base: str,
    work: Work,
    connections: int,
    seconds: float,
    stop_when: Callable[[], bool] | None = None,
) -> Load:
    """The fallback generator: ``connections`` keep-alive connections spread over up to 4
    processes (threads within each), so the client does not share one GIL."""
    ctx = multiprocessing.get_context("fork")
    processes = min(4, connections)
    share = [connections // processes + (i < connections % processes) for i in range(processes)]
    stop, results = ctx.Event(), ctx.Queue()
    cpu = children_cpu()
    started, wall = time.time(), time.perf_counter()
    deadline = started + seconds
    workers = []
    first = 0
    for count in share:
        p = ctx.Process(
            target=_client_process,
            args=(base, work, first, count, deadline, stop, results),
            daemon=True,  # ended with the bench if it is interrupted
        )
        first += count
        p.start()
        workers.append(p)
    while time.time() < deadline:
        if stop_when is not None and stop_when():
            stop.set()
            break
        time.sleep(0.05)
    gathered = [results.get(timeout=seconds + 60) for _ in workers]
    for p in workers:
        p.join(30)
    elapsed, stopped = time.perf_counter() - wall, time.time()
    used = children_cpu() - cpu
    latencies: list[float] = sorted(x for lat, _, _ in gathered for x in lat)
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for _, s, e in gathered:
        statuses.update(s)
        errors.update(e)
    ok = sum(n for code, n in statuses.items() if code.startswith("2"))

    def pct(q: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return Load(
        name=name,
        generator=f"python ({processes} processes)",
        connections=connections,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        rate=round(len(latencies) / elapsed, 1),
        ok=ok,
        ok_rate=round(ok / elapsed, 1),
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
        statuses=dict(sorted(statuses.items())),
        timeouts=errors["timeout"],
        socket_errors=errors["socket"],
        generator_cpu=round(used / elapsed, 2),
        generator_busy=round(used / elapsed / processes, 2),
        started_at=started,
        stopped_at=stopped,
    )


@dataclass
class Generator:
    kind: str  # "wrk" or "python"
    connections: int
    folder: Path
    runs: list[Load] = field(default_factory=list)
    watched: int | None = None  # the service's pid: its processes' CPU is taken per load
    receiver: int | None = None  # the webhook receiver's pid: its CPU too

    def run(
        self,
        name: str,
        base: str,
        work: Work,
        seconds: float,
        *,
        connections: int | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> Load:
        conns = connections or self.connections
        say(f"{name}: {conns} connections for {seconds:g} s ({self.kind})")
        before = service_cpu(self.watched) if self.watched else {}
        waited = service_waits(self.watched) if self.watched else {}
        machine = machine_jiffies()
        receiver = cpu_seconds(self.receiver) if self.receiver else 0.0
        if self.kind == "wrk":
            load = run_wrk(name, base, work, conns, seconds, self.folder, stop_when)
        else:
            load = run_python(name, base, work, conns, seconds, stop_when)
        total, idle = (now - then for now, then in zip(machine_jiffies(), machine, strict=True))
        load.machine_cores = round((total - idle) / max(total, 1) * CPUS, 2)
        if self.receiver:
            used = cpu_seconds(self.receiver) - receiver
            load.receiver_cores = round(used / max(load.seconds, 0.001), 2)
        if self.watched:
            after = service_cpu(self.watched)
            load.service_cores = {
                role: round((cpu - before.get(role, 0.0)) / max(load.seconds, 0.001), 2)
                for role, cpu in after.items()
            }
            load.service_waits = {
                role: round(grown(waited.get(role, {}), w) / max(load.seconds, 0.001), 2)
                for role, w in service_waits(self.watched).items()
            }
            load.placement = placement(load.service_cores)
        self.runs.append(load)
        say(
            f"{name}: {load.rate:,.0f} req/s ({load.ok_rate:,.0f} 2xx/s), p50 {load.p50_ms} ms, "
            f"p99 {load.p99_ms} ms, statuses {load.statuses}, timeouts {load.timeouts}"
        )
        return load


# -- the service's processes ----------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")
CPUS = os.cpu_count() or 1
Measured = TypeVar("Measured")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_times(pid: int) -> tuple[float, float]:
    """The CPU seconds ``pid`` has used so far: (user, system), from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime


def cpu_seconds(pid: int) -> float:
    """The CPU seconds ``pid`` has used so far, user and system together."""
    return sum(cpu_times(pid))


def role(pid: int) -> str:
    """What a child of ``eventfold run`` is: the router or an HTTP process."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return "router" if b"worker" in argv else "http"


def writes(pid: int) -> bool:
    """Whether an HTTP process of ``eventfold run`` is the writer: the one the others hand
    their commands (eventfold.entry.http.forwarding) or the connections that start with a
    write (eventfold.entry.http.handover) to."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return b"--serve-writes" in argv or b"--take-connections" in argv


def run_queue_waits(pid: int) -> dict[str, float]:
    """Seconds each thread of ``pid`` has spent ready to run but waiting for a core, by
    thread id (``/proc/<pid>/task/*/schedstat``, second field): on a saturated machine, the
    CPU a process would have used had a core been free. Per thread, as the kernel keeps no
    total for the process: a thread that ends takes its figure with it."""
    waited: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            waited[task.name] = int((task / "schedstat").read_text().split()[1]) / 1e9
    return waited


def grown(before: dict[str, float], after: dict[str, float]) -> float:
    """How much the threads alive in ``after`` added since ``before`` (a thread started
    since then from zero; one that ended is left out rather than counted as negative)."""
    return sum(value - before.get(thread, 0.0) for thread, value in after.items())


def machine_jiffies() -> tuple[int, int]:
    """(all, idle + I/O wait) clock ticks of every core so far, from ``/proc/stat``."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[3] + fields[4]  # without guest time, counted in user


def service_cpu(supervisor: int) -> dict[str, float]:
    """CPU seconds (user + system) each child of ``eventfold run`` has used, by role
    (``http-1``, ``http-2`` …, the writer first, then in pid order; ``router``). A child
    that is gone is left out.

    Printed per load: one listening socket shared by the HTTP processes does not spread
    connections evenly, and whether one process or both served a load moves its figure."""
    return by_role(supervisor, cpu_seconds)


BUSY_HTTP = 0.1
"""An HTTP process using more cores than this during a load served part of it."""


def placement(cores: dict[str, float]) -> str:
    """Where the kernel put a load's connections, read off the HTTP processes' cores:
    "one" when a single HTTP process served it, "split" when several did (then they share
    the cores and the SQLite file, and a command costs more CPU; docs/performance.md)."""
    busy = [role for role, used in cores.items() if role.startswith("http") and used > BUSY_HTTP]
    return "split" if len(busy) > 1 else "one"


def service_waits(supervisor: int) -> dict[str, dict[str, float]]:
    """:func:`run_queue_waits` of each child of ``eventfold run``, named as
    :func:`service_cpu` names them."""
    return by_role(supervisor, run_queue_waits)


def by_role(supervisor: int, measure: Callable[[int], Measured]) -> dict[str, Measured]:
    """``measure(pid)`` of each child of ``eventfold run`` (see :func:`service_cpu`), and of
    each HTTP process's own child, the helper process that fsyncs its commits (named
    ``fsync (http-1)``)."""
    found: list[tuple[bool, int, str, Measured]] = []
    for pid in children(supervisor):
        try:
            name, value = role(pid), measure(pid)
            writer = name == "http" and writes(pid)
        except OSError:
            continue
        found.append((not writer, pid, name, value))
    used: dict[str, Measured] = {}
    https = 0
    for _, pid, name, value in sorted(found, key=lambda child: child[:2]):
        if name == "http":
            https += 1
            name = f"http-{https}"
        used[name] = value
        if name.startswith("http-"):
            for helper in children(pid):  # its WAL sync helper, once it made one
                with contextlib.suppress(OSError):
                    used[f"fsync ({name})"] = measure(helper)
    return used


# -- the service's files ---------------------------------------------------------------------


def read_db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def committed_reservations(db: Path) -> list[tuple[str, float]]:
    """Every reservation committed so far, (id, commit time), in commit order: version 1
    of each ``reservation-<id>`` stream in the event store."""
    with contextlib.closing(read_db(db)) as conn:
        rows = conn.execute(
            "SELECT stream_id, recorded_at FROM events "
            "WHERE stream_id LIKE 'reservation-%' AND version = 1 ORDER BY position"
        ).fetchall()
    return [
        (s.removeprefix("reservation-"), datetime.fromisoformat(t).timestamp()) for s, t in rows
    ]


def state_size(db: Path, stream_id: str) -> int:
    with contextlib.closing(read_db(db)) as conn:
        row = conn.execute(
            "SELECT length(state) FROM states WHERE stream_id = ?", (stream_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def open_holds(db: Path, stream_id: str) -> int:
    """StockReserved minus StockReleased / StockHandedOver of a stock stream."""
    with contextlib.closing(read_db(db)) as conn:
        rows = conn.execute(
            "SELECT type, COUNT(*) FROM events WHERE stream_id = ? GROUP BY type", (stream_id,)
        ).fetchall()
    n = dict(rows)
    return int(n.get("StockReserved", 0) - n.get("StockReleased", 0) - n.get("StockHandedOver", 0))


# the customer's "request received" mail (reservations/reactions.py: mail_accepted); other
# mails of a reservation (e.g. "is ready", after staff secure it) are not this bench's
RID_IN_SUBJECT = re.compile(r"[Rr]eservation\s+([A-Za-z0-9][A-Za-z0-9_.-]*)\s+received")


PLAIN_SUBJECT = re.compile(rb"^Subject: ([ -~]*)\r?$", re.MULTILINE)


def subject_rid(raw: bytes) -> re.Match[str] | None:
    """The reservation id in an e-mail's subject. A plain ASCII subject line is read
    directly (the email package's parser took ~0.4 ms a message: 3-4 s for the first look
    at 8,000 e-mails, which delayed the drain's first round and so every figure it times);
    an encoded or folded one goes through the parser."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    plain = PLAIN_SUBJECT.search(head)
    if plain is not None:
        found = RID_IN_SUBJECT.search(plain.group(1).decode("ascii"))
        if found is not None:
            return found
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return RID_IN_SUBJECT.search(str(message.get("Subject", "")))


class MailFolder:
    """The sink's ``.eml`` files, read incrementally: reservation id -> arrival times."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: set[str] = set()
        self.mails: dict[str, list[float]] = {}
        self.unparsed = 0

    def scan(self) -> None:
        if not self.folder.is_dir():
            return
        for entry in os.scandir(self.folder):
            if not entry.name.endswith(".eml") or entry.name in self.seen:
                continue
            self.seen.add(entry.name)
            arrived = entry.stat().st_mtime
            found = subject_rid(Path(entry.path).read_bytes())
            if found is None:
                self.unparsed += 1
                continue
            self.mails.setdefault(found.group(1), []).append(arrived)


class Receiver:
    """The webhook receiver's records, read incrementally over HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.count = 0
        self.calls: dict[str, dict[str, list[float]]] = {w: {} for w in WEBHOOKS}
        self.keys: dict[str, Counter[str]] = {w: Counter() for w in WEBHOOKS}

    def scan(self) -> None:
        status, records = get(self.base, f"/records?from={self.count}")
        if status != 200:
            raise SystemExit(f"webhook receiver answered {status}")
        self.count += len(records)
        for name, rid, key, at in records:
            self.calls.setdefault(name, {}).setdefault(rid, []).append(at)
            self.keys.setdefault(name, Counter())[key] += 1


# -- phases ----------------------------------------------------------------------------------


class ViewWatch(threading.Thread):
    """Finds, every 20 ms, how far the read model got: the projection applies events in
    commit order, so a binary search over the committed ids (``GET /reservations/{id}``, a
    dozen requests) finds the first one not shown. A reservation's view time is when a
    search first found it shown. In its own thread: the drain loop's scans of the mail
    folder take up to half a second after a load, and the view's times were once taken
    only between them (a view caught up within 0.1 s was reported 0.5 s late)."""

    def __init__(self, base: str, db: Path, authorization: str, every: float = 0.02) -> None:
        super().__init__(name="view-watch", daemon=True)
        self._client = Http(base, authorization=authorization)
        self._db, self._every = db, every
        self._seen: dict[str, float] = {}
        self._visible = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._rounds = 0
        self._round_done = threading.Condition(self._lock)

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                ids = [r for r, _ in committed_reservations(self._db)]
                lo, hi = self._visible, len(ids)  # the first not shown is in [lo, hi]
                while lo < hi:
                    mid = (lo + hi) // 2
                    if self._client.request("GET", f"/reservations/{ids[mid]}")[0] == 200:
                        lo = mid + 1
                    else:
                        hi = mid
                seen_at = time.time()
                with self._lock:
                    for rid in ids[self._visible : lo]:
                        self._seen[rid] = seen_at
                    self._visible = lo
                    self._rounds += 1
                    self._round_done.notify_all()
                self._stopping.wait(self._every)
        finally:
            self._client.close()

    def caught_up(self, bound: float = 5.0) -> None:
        """Wait (at most ``bound`` seconds) for one whole search after this call, so that
        the first drain round reads what was shown at load stop, not an empty view."""
        with self._lock:
            target = self._rounds + 1
            self._round_done.wait_for(lambda: self._rounds >= target, bound)

    def seen(self) -> dict[str, float]:
        with self._lock:
            return dict(self._seen)

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


def completed_phase(
    base: str,
    db: Path,
    mail: MailFolder,
    receiver: Receiver,
    load: Load,
    drain_timeout: float,
    authorization: str,
) -> dict[str, Any]:
    """Waits until every reservation committed during the load has every effect.

    Which reservations were accepted: wrk cannot collect response bodies at speed, so the
    event store is the list (version 1 of every ``reservation-*`` stream, read-only). It
    can hold a few more than the 201s wrk counted: requests in flight when wrk stopped are
    committed without wrk seeing their answer. Each of them must get every effect too.

    Read model: ``GET /reservations/{id}``, searched every 20 ms by :class:`ViewWatch`; at
    the end every id is checked through the backoffice listing.
    """
    stop = load.stopped_at
    client = Http(base, authorization=authorization)
    first_seen: dict[str, dict[str, float]] = {
        "view": {},
        "mail": {},
        **{w: {} for w in WEBHOOKS},
    }
    committed: list[tuple[str, float]] = []
    at_stop: dict[str, Any] | None = None
    deadline = time.time() + drain_timeout
    last_growth = last_said = time.time()
    complete = False
    listed: set[str] = set()
    view = ViewWatch(base, db, authorization)
    view.start()
    while time.time() < deadline:
        now = time.time()
        latest = committed_reservations(db)
        if len(latest) != len(committed):
            last_growth = now
        committed = latest
        ids = [r for r, _ in committed]
        if at_stop is None:
            view.caught_up()  # the first round's view is the state at load stop
        first_seen["view"] = view.seen()
        mail.scan()
        receiver.scan()
        for rid in ids:
            if rid in mail.mails and rid not in first_seen["mail"]:
                first_seen["mail"][rid] = min(mail.mails[rid])
            for w in WEBHOOKS:
                calls = receiver.calls.get(w, {})
                if rid in calls and rid not in first_seen[w]:
                    first_seen[w][rid] = min(calls[rid])
        if at_stop is None:  # the first round, right after the load: what was still to do
            at_stop = {}
            for sub, seen in first_seen.items():
                pending = [t for r, t in committed if r not in seen]
                at_stop[sub] = {
                    "behind": len(pending),
                    "behind_s": round(max(0.0, stop - min(pending)), 2) if pending else 0.0,
                }
            say(
                f"drain: {len(ids)} committed; behind at load stop: "
                + ", ".join(f"{k} {v['behind']}" for k, v in at_stop.items())
            )
        done = all(len(seen) >= len(ids) for seen in first_seen.values())
        if done and now - last_growth > 1.0:
            listed = list_reservations(client, STORE)
            if listed >= set(ids):
                complete = True
                break
        if not done and now - last_said >= 5:
            last_said = now
            say("drain: " + ", ".join(f"{k} {len(v)}/{len(ids)}" for k, v in first_seen.items()))
        time.sleep(0.1)
    view.stop()
    first_seen["view"] = view.seen()
    client.close()
    ids = [r for r, _ in committed]
    missing = {k: len(ids) - len(set(ids) & set(v)) for k, v in first_seen.items()}
    if not complete:
        listed = list_reservations(Http(base), STORE)
        missing["view"] = len(set(ids) - listed)
    duplicates = {
        "mail": sum(len(t) - 1 for t in mail.mails.values() if len(t) > 1),
        **{
            w: sum(len(t) - 1 for t in receiver.calls.get(w, {}).values() if len(t) > 1)
            for w in WEBHOOKS
        },
    }
    key_duplicates = {w: sum(n - 1 for n in receiver.keys[w].values() if n > 1) for w in WEBHOOKS}
    every = [max(first_seen[k].get(r, math.inf) for k in first_seen) for r in ids]
    finished = [t for t in every if t != math.inf]
    last_effect = max(finished) if finished else stop
    span = last_effect - load.started_at
    drains = {
        k: round(max(0.0, max(v.values(), default=stop) - stop), 2) for k, v in first_seen.items()
    }
    return {
        "committed": len(ids),
        "accepted_201": load.statuses.get("201", 0),
        "completed": len(finished),
        "seconds_first_request_to_last_effect": round(span, 2),
        "rate": round(len(finished) / span, 1) if span > 0 else 0.0,
        "behind_at_load_stop": at_stop or {},
        "drain_seconds": drains,
        "missing": missing,
        "duplicates": duplicates,
        "duplicate_idempotency_keys": key_duplicates,
        "mails_unparsed": mail.unparsed,
        "complete": complete and not any(missing.values()),
        "exactly_once": not any(duplicates.values()) and not any(key_duplicates.values()),
        "ids": ids,
    }


def list_reservations(client: Http, store: str) -> set[str]:
    """Every reservation of ``store`` the query model lists (the backoffice search)."""
    found: set[str] = set()
    cursor = ""
    while True:
        status, page = client.request(
            "GET", f"/backoffice/reservations?store_id={store}&limit=200{cursor}"
        )
        if status != 200:
            raise SystemExit(f"GET /backoffice/reservations answered {status}: {page}")
        found.update(item["reservation_id"] for item in page["items"])
        if not page.get("next_cursor"):
            return found
        cursor = f"&cursor={page['next_cursor']}"


def stock_invariant(eventfold: Path, env: dict[str, str], stream: str) -> dict[str, Any]:
    """Replays the stock stream's events (``eventfold events --json``): on_hand and held as
    the events say, available = on_hand - held never negative. Computed from the events,
    not the state row, so a redesigned state shape does not change the check."""
    out = subprocess.run(
        [str(eventfold), "events", stream, "--json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout.decode()
    on_hand = held = 0
    negative: list[int] = []
    unknown: Counter[str] = Counter()
    versions = 0
    for line in out.splitlines():
        event = json.loads(line)
        kind, payload = event["type"], event.get("payload") or {}
        quantity = int(payload.get("quantity", 0))
        if kind == "StockLevelSet":
            on_hand = int(payload.get("on_hand", payload.get("onHand", 0)))
        elif kind == "StockReserved":
            held += quantity
        elif kind == "StockReleased":
            held -= quantity
        elif kind == "StockHandedOver":
            held -= quantity
            on_hand -= quantity
        else:
            unknown[kind] += 1
        versions += 1
        if on_hand - held < 0 or held < 0:
            negative.append(int(event.get("version", versions)))
    return {
        "stream": stream,
        "versions": versions,
        "on_hand": on_hand,
        "held": held,
        "available": on_hand - held,
        "negative_at_versions": negative[:20],
        "unknown_event_types": dict(unknown),
        "ok": not negative,
    }


def settled(count: Callable[[], int], quiet: float = 0.5, bound: float = 10.0) -> int:
    """``count()`` once it has not changed for ``quiet`` seconds (requests the generator
    abandoned when it stopped may still commit), or after ``bound`` seconds."""
    value, since, deadline = count(), time.monotonic(), time.monotonic() + bound
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.1)
        now = count()
        if now != value:
            value, since = now, time.monotonic()
    return value


def settings_of(pairs: list[str]) -> dict[str, str]:
    """``--env KEY=VALUE`` options as a mapping (a pair without ``=`` is refused)."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env {pair!r}: write it as KEY=VALUE, e.g. EVENTFOLD_WORKERS=1")
        settings[key] = value
    return settings


def mint_token(eventfold: Path, env: dict[str, str]) -> str:
    """``Bearer <token>`` of one caller who reserves (customer), works at both stores
    (staff: the staff list, every reservation readable) and sets stock (inventory), minted
    with ``eventfold token`` as the README does."""
    command = [str(eventfold), "token", "--subject", "bench", "--ttl", "86400"]
    for role in ("customer", "staff", "support", "inventory"):
        command += ["--role", role]
    for store in (STORE, HOT_STORE):
        command += ["--store", store]
    minted = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if minted.returncode != 0:
        raise SystemExit(f"eventfold token failed: {minted.stderr.strip()}")
    return f"Bearer {minted.stdout.strip()}"


def hold(client: Http, store: str, sku: str, n: int) -> None:
    for _ in range(n):
        body = {"store_id": store, "sku": sku, "quantity": 1}
        status, answer = client.request("POST", "/reservations", body)
        if status != 201:
            raise SystemExit(f"POST /reservations answered {status}: {answer}")


# -- main ------------------------------------------------------------------------------------


def ratio(value: float, to: float) -> float:
    return round(value / to, 3) if to else 0.0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


@contextlib.contextmanager
def run_folder(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A new folder for one run (the service's home, its mail, the logs), deleted when the
    block ends unless ``keep`` (``--keep``): then its place is said."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            say(f"kept {folder} (--keep)")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (1 s loads)")
    parser.add_argument("--holds", type=int, default=10_000, help="open holds to size state at")
    parser.add_argument("--fill-seconds", type=float, default=90.0, help="bound on the fill")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the service (repeatable), e.g. EVENTFOLD_WORKERS=1; default: none",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=120.0,
        help="wait up to this many seconds for a quiet file system (0: don't)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the run's folder (the service's home, mail, logs) instead of deleting it: "
        "to look into it, and so that back-to-back runs don't pay for the previous run's "
        "mass delete (see --settle); delete the folders yourself afterwards",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "pipeline.json")
    args = parser.parse_args(argv)
    args.load_at_start = os.getloadavg()
    if args.quick:
        args.seconds = min(args.seconds, 1.0)
        args.holds = min(args.holds, 100)
        args.fill_seconds = min(args.fill_seconds, 5.0)
        args.drain_timeout = min(args.drain_timeout, 120.0)
        args.settle = 0.0
    settings_of(args.env)  # a malformed --env fails before anything starts
    kind = args.generator
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    if kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--generator wrk: wrk is not on PATH (apt-get install wrk)")
    say(f"load generator: {kind}" + (" (wrk not on PATH)" if kind == "python" else ""))
    bin_dir = Path(sys.executable).parent
    eventfold = bin_dir / "eventfold"
    processes = Processes()
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        # The processes stop first: the service writes into the folder until it stops.
        with run_folder("eventfold-pipeline-", keep=args.keep) as folder, processes:
            return run(args, kind, folder, eventfold, processes)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    args: argparse.Namespace, kind: str, tmp: Path, eventfold: Path, processes: Processes
) -> int:
    me = [sys.executable, str(Path(__file__).resolve())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
    env.pop("PORT", None)
    gen = Generator(kind, args.connections, tmp)
    args.file_cost_us = file_cost_us(tmp / "probe")
    say(
        f"making a small file here costs {args.file_cost_us} us of CPU "
        "(the mail sink makes one per e-mail)"
    )
    args.file_cost_settled_us, args.settled_seconds = settle_file_system(
        tmp / "probe", args.file_cost_us, args.settle
    )
    home = tmp / "home"
    auth = mint_token(eventfold, {**env, "EVENTFOLD_HOME": str(home)})
    post = Work(STORE, SKUS, authorization=auth)

    # 1. the ceiling, alone on the machine
    loop, http_impl = ceiling_stack()
    say(f"ceiling: no-op FastAPI route on uvicorn loop={loop} http={http_impl}, no access log")
    port = free_port()
    noop_log = tmp / "noop.log"
    noop = processes.start("noop", [*me, "_noop", str(port)], env, noop_log)
    noop_base = f"http://127.0.0.1:{port}"
    wait_healthy(noop_base, noop, noop_log, "/healthz")
    ceiling = gen.run("ceiling", noop_base, post, args.seconds)
    processes.stop(noop)
    # the same no-op with the service's own HTTP protocol: how much of a ratio is that
    port = free_port()
    noop = processes.start("noop-one-write", [*me, "_noop_one_write", str(port)], env, noop_log)
    noop_base = f"http://127.0.0.1:{port}"
    wait_healthy(noop_base, noop, noop_log, "/healthz")
    ceiling_one_write = gen.run("ceiling, one write", noop_base, post, args.seconds)
    processes.stop(noop)

    # 2. the webhook receiver and the service
    hooks_port = free_port()
    hooks_log = tmp / "hooks.log"
    hooks = processes.start("hooks", [*me, "_hooks", str(hooks_port)], env, hooks_log)
    hooks_base = f"http://127.0.0.1:{hooks_port}"
    wait_healthy(hooks_base, hooks, hooks_log, "/records")
    port = free_port(plus=25)  # PORT + 25: the mail sink's default port
    service_env = {
        **env,
        "PORT": str(port),
        "EVENTFOLD_HOME": str(home),
        "EVENTFOLD_WEBHOOKS": ",".join(f"{w}={hooks_base}/{w}" for w in WEBHOOKS),
        **settings_of(args.env),
    }
    say(f"service: {eventfold} run on port {port}, EVENTFOLD_HOME={home} {' '.join(args.env)}")
    service_log = tmp / "service.log"
    service = processes.start("service", [str(eventfold), "run"], service_env, service_log)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, service, service_log, "/healthz")
    gen.watched, gen.receiver = service.pid, hooks.pid
    db = home / "eventfold.db"
    client = Http(base, authorization=auth)
    for sku in [*SKUS]:
        status, answer = client.request("PUT", f"/stores/{STORE}/stock/{sku}", {"on_hand": ON_HAND})
        if status != 200:
            raise SystemExit(f"PUT stock answered {status}: {answer}")
    say(f"stock set for {len(SKUS)} SKUs at store {STORE}")

    # 3. accepted, then completed
    accepted = gen.run("accepted", base, post, args.seconds)
    say("completed: waiting for every effect of every committed reservation")
    mail, receiver = MailFolder(home / "mail"), Receiver(hooks_base)
    completed = completed_phase(base, db, mail, receiver, accepted, args.drain_timeout, auth)
    ids = completed.pop("ids")
    say(
        f"completed: {completed['completed']}/{completed['committed']} in "
        f"{completed['seconds_first_request_to_last_effect']} s = {completed['rate']}/s; "
        f"missing {completed['missing']}, duplicates {completed['duplicates']}"
    )

    # 4. reads (the router is idle again: the drain finished or timed out)
    sample = ids[:: max(1, len(ids) // 2000)][:2000] or ["none"]
    one = gen.run(
        "read one",
        base,
        Work(paths=[f"/reservations/{r}" for r in sample], authorization=auth),
        args.seconds,
    )
    staff = gen.run(
        "read staff list",
        base,
        Work(paths=[f"/stores/{STORE}/reservations"], authorization=auth),
        args.seconds,
    )

    # 5. hot SKU
    hot_stream = f"stock-{HOT_STORE}/{HOT_SKU}"
    client.request("PUT", f"/stores/{HOT_STORE}/stock/{HOT_SKU}", {"on_hand": ON_HAND})
    hold(client, HOT_STORE, HOT_SKU, 10)
    size_10 = state_size(db, hot_stream)
    say(f"hot: state row {size_10} bytes after 10 open holds")
    hot = gen.run("hot SKU", base, Work(HOT_STORE, [HOT_SKU], authorization=auth), args.seconds)
    have = open_holds(db, hot_stream)
    fill: Load | None = None
    if have < args.holds:
        say(f"hot: {have} open holds; filling to {args.holds} (at most {args.fill_seconds:g} s)")
        fill = gen.run(
            "hot fill",
            base,
            Work(HOT_STORE, [HOT_SKU], authorization=auth),
            args.fill_seconds,
            stop_when=lambda: open_holds(db, hot_stream) >= args.holds,
        )
    holds_n = settled(lambda: open_holds(db, hot_stream))
    size_n = state_size(db, hot_stream)
    say(f"hot: state row {size_n} bytes after {holds_n} open holds")
    client.close()
    invariant = stock_invariant(eventfold, service_env, hot_stream)
    say(f"hot: invariant over {invariant['versions']} versions: {verdict(invariant['ok'])}")
    gen.watched = gen.receiver = None
    processes.stop(service)
    processes.stop(hooks)

    # -- report
    c = ceiling.ok_rate
    headroom = [
        {
            "run": load.name,
            "cores": load.generator_cpu,
            "busy": load.generator_busy,
            "ok": load.generator_busy < 0.9,
        }
        for load in gen.runs
    ]
    headroom_ok = all(h["ok"] for h in headroom)
    behind_s = max((v["behind_s"] for v in completed["behind_at_load_stop"].values()), default=0)
    hot_conflicts = hot.statuses.get("409", 0)
    size_ratio = round(size_n / size_10, 2) if size_10 else 0.0
    checks = {
        "accepted": ratio(accepted.ok_rate, c) >= 0.35 and accepted.p99_ms <= 50,
        "completed": ratio(completed["rate"], c) >= 0.2 and behind_s <= 1.0,
        "exactly_once": completed["exactly_once"] and completed["complete"],
        "hot": ratio(hot.ok_rate, accepted.ok_rate) >= 0.5
        and hot_conflicts == 0
        and hot.timeouts == 0,
        "hot_state": holds_n >= args.holds and 0 < size_ratio <= 2.0,
        "hot_invariant": invariant["ok"],
        "read_one": ratio(one.ok_rate, c) >= 0.5,
        "read_list": ratio(staff.ok_rate, c) >= 0.5,
    }
    checks["reads"] = checks["read_one"] and checks["read_list"]
    result = {
        "settings": args.env,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": args.load_at_start,
            "load_average_at_end": os.getloadavg(),
            "file_cost_us": args.file_cost_us,
            "file_cost_settled_us": args.file_cost_settled_us,
            "settled_seconds": args.settled_seconds,
        },
        "generator": {
            "kind": gen.runs[0].generator,
            "headroom_ok": headroom_ok,
            "runs": headroom,
            # the same generator drove the no-op this many times faster than the service
            "ceiling_over_accepted": ratio(c, accepted.ok_rate),
        },
        "ceiling": {"stack": f"uvicorn loop={loop} http={http_impl}", **asdict(ceiling)},
        # not a denominator: the no-op with the service's own protocol, one write a response
        "ceiling_one_write": {
            **asdict(ceiling_one_write),
            "ratio_to_ceiling": ratio(ceiling_one_write.ok_rate, c),
        },
        "accepted": {**asdict(accepted), "ratio_to_ceiling": ratio(accepted.ok_rate, c)},
        "completed": {**completed, "ratio_to_ceiling": ratio(completed["rate"], c)},
        "hot": {
            **asdict(hot),
            "ratio_to_ceiling": ratio(hot.ok_rate, c),
            "ratio_to_accepted": ratio(hot.ok_rate, accepted.ok_rate),
            "state_bytes_at_10_holds": size_10,
            "open_holds": holds_n,
            "state_bytes_at_open_holds": size_n,
            "state_size_ratio": size_ratio,
            "fill": None if fill is None else asdict(fill),
            "invariant": invariant,
        },
        "reads": {
            "one": {**asdict(one), "ratio_to_ceiling": ratio(one.ok_rate, c)},
            "staff_list": {**asdict(staff), "ratio_to_ceiling": ratio(staff.ok_rate, c)},
        },
        "targets": {k: {"target": TARGETS[k], "pass": v} for k, v in checks.items()},
        "seconds": args.seconds,
        "connections": args.connections,
        "note": "ratios from one run; other processes may share the machine",
    }
    print_table(result, ceiling, ceiling_one_write, accepted, hot, one, staff, checks)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {args.out}")
    failures = []
    if not completed["complete"]:
        unparsed = completed["mails_unparsed"]
        hint = (
            f" ({unparsed} mails whose subject names no received reservation)" if unparsed else ""
        )
        failures.append(f"effects missing after the drain: {completed['missing']}{hint}")
    if not completed["exactly_once"]:
        failures.append(f"effects duplicated: {completed['duplicates']}")
    if not invariant["ok"]:
        failures.append(f"stock went negative at versions {invariant['negative_at_versions']}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def print_table(
    result: dict[str, Any],
    ceiling: Load,
    ceiling_one_write: Load,
    accepted: Load,
    hot: Load,
    one: Load,
    staff: Load,
    checks: dict[str, bool],
) -> None:
    c = ceiling.ok_rate
    comp = result["completed"]
    h = result["hot"]
    machine = result["machine"]
    cpus, load = machine["cpus"], machine["load_average_at_start"]
    busy = " (BUSY: other work shares the cores; ratios are noisy)" if load[0] > cpus / 2 else ""
    print(f"\nmachine: {cpus} cpus, load average at start {load[0]:.2f}{busy}")
    files = machine["file_cost_settled_us"]
    slow = (
        " (SLOW: recently freed inodes; the router pays it per e-mail)"
        if files > SLOW_FILE_US
        else ""
    )
    waited = (
        f" after {machine['settled_seconds']:g} s (was {machine['file_cost_us']} us)"
        if machine["settled_seconds"]
        else ""
    )
    print(f"making a file: {files} us of CPU{waited}{slow}")
    print(f"load generator: {result['generator']['kind']}; headroom: ", end="")
    print(
        ", ".join(f"{x['run']} {x['busy']:.0%} busy" for x in result["generator"]["runs"])
        + (" -> ok" if result["generator"]["headroom_ok"] else " -> GENERATOR MAY BE THE LIMIT")
    )
    print(
        f"the same generator drove the no-op ceiling at "
        f"{result['generator']['ceiling_over_accepted']:.1f}x the accepted rate"
    )
    print(f"ceiling: {result['ceiling']['stack']}")
    print(f"service settings: {' '.join(result['settings']) or 'defaults'}")
    print(
        "cores used by the service's processes during each load (http-1: the writer, if any;"
        " + cores' worth of time\n  their threads waited for a free core), and the whole"
        f" machine's busy cores of {CPUS}:"
    )
    for load in (accepted, one, staff, hot):
        shares = ", ".join(
            f"{k} {v:.2f} (+{load.service_waits.get(k, 0.0):.2f})"
            for k, v in load.service_cores.items()
        )
        print(
            f"  {load.name:<16} {shares}; webhook receiver {load.receiver_cores:.2f};"
            f" machine {load.machine_cores:.2f} ({load.placement})"
        )
    print()
    header = f"{'figure':<22} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'t/o':>5}"
    print(header + f" {'x ceiling':>10}  target")
    rows: list[tuple[str, Load, str]] = [
        ("ceiling (no-op)", ceiling, ""),
        ("no-op, one write", ceiling_one_write, "(eventfold's HTTP protocol; not a target)"),
        ("accepted (50 SKUs)", accepted, f"{verdict(checks['accepted'])} >= 0.35x, p99 <= 50"),
        ("hot SKU (1 SKU)", hot, f"{verdict(checks['hot'])} >= 0.5x accepted, no 409/t-o"),
        ("GET /reservations/id", one, f"{verdict(checks['read_one'])} >= 0.5x"),
        ("GET staff list", staff, f"{verdict(checks['read_list'])} >= 0.5x"),
    ]
    for label, load, target in rows:
        bad = load.requests - load.ok
        print(
            f"{label:<22} {load.ok_rate:>9,.0f} {load.p50_ms:>8.1f} {load.p99_ms:>8.1f} "
            f"{bad:>8} {load.timeouts:>5} {ratio(load.ok_rate, c):>9.3f}x  {target}"
        )
    print(
        f"{'completed':<22} {comp['rate']:>9,.0f} {'':>8} {'':>8} {'':>8} {'':>5} "
        f"{ratio(comp['rate'], c):>9.3f}x  {verdict(checks['completed'])} >= 0.2x, <= 1 s behind"
    )
    print(f"\nhot SKU: {h['ratio_to_accepted']:.2f}x accepted; 409s {hot.statuses.get('409', 0)}")
    print(
        f"stock state: {h['state_bytes_at_10_holds']} bytes at 10 holds, "
        f"{h['state_bytes_at_open_holds']} at {h['open_holds']} holds "
        f"({h['state_size_ratio']}x) {verdict(checks['hot_state'])} (within 2x at 10,000)"
    )
    inv = h["invariant"]
    print(
        f"invariant over {inv['versions']} versions of {inv['stream']}: "
        f"{verdict(checks['hot_invariant'])} (on_hand {inv['on_hand']}, held {inv['held']})"
    )
    print(
        f"\ncompleted: {comp['completed']} of {comp['committed']} committed "
        f"({comp['accepted_201']} 201s seen by the generator) in "
        f"{comp['seconds_first_request_to_last_effect']} s from the first request"
    )
    print(f"{'subscription':<26} {'behind at stop':>15} {'oldest s':>9} {'drain s':>8}")
    for sub, at in comp["behind_at_load_stop"].items():
        drain = comp["drain_seconds"][sub]
        print(f"{sub:<26} {at['behind']:>15} {at['behind_s']:>9.2f} {drain:>8.2f}")
    print(
        f"exactly once: {verdict(checks['exactly_once'])} (missing {comp['missing']}, "
        f"duplicates {comp['duplicates']}, "
        f"duplicate keys {comp['duplicate_idempotency_keys']})"
    )


def entry() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("_hooks", "_noop", "_noop_one_write"):
        port = int(sys.argv[2])
        with contextlib.suppress(KeyboardInterrupt):
            if sys.argv[1] == "_hooks":
                serve_hooks(port)
            else:
                serve_noop(port, one_write=sys.argv[1] == "_noop_one_write")
        return
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every subprocess was stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    entry()
