"""What the production profile costs in DynamoDB requests and capacity units, per command
and per projected event, for a realistic reservation workload.

The stack is composed from settings exactly as ``eventfold run`` / ``eventfold worker``
compose it (DynamoDB store, DynamoDB Streams feed, router state in the checkpoints table).
Every request of the DynamoDB and DynamoDB Streams clients is counted through botocore's
event hooks (``before-parameter-build`` keeps the request, ``after-call`` reads the
response): instrumentation of the real calls, nothing is mocked. Capacity units are
computed from item sizes by AWS's rules (the store's own sizing, numbers at their upper
bound):

- writes: 1 WCU per started KB of the item; transactional writes 2x; UpdateItem counts the
  key and the values it sets (the router's items are far below 1 KB either way);
- reads: 1 RCU per started 4 KB, strongly consistent (eventfold's reads all are; eventual
  would be 0.5x, transactional 2x); GetItem/BatchGetItem round per item (a miss still
  costs the minimum); Query/Scan sum the items a page returns, then round (minimum 1);
- DynamoDB Streams (DescribeStream, GetShardIterator, GetRecords) use no RCU: counted as
  requests (GetRecords are billed as streams read requests outside Lambda).

Workload: stock for ``--skus`` SKUs, ``--reservations`` reservations spread over them,
70 % secured, half of those picked up, 15 % of the rest canceled — each command with an
idempotency key, as the HTTP API's clients send. Then each subscription of the service
drains the stream (one runner step at a time, so idle polling does not blur the counts),
and the query model is rebuilt from the events table (parallel scan).

The endpoint is moto in server mode (DynamoDB requests served one at a time, as the
tests' fixture does) unless ``--endpoint-url`` names another. Counts and units do not
depend on the emulator's speed, which is not reported — except each runner's
once-a-second read of its stored checkpoint (a GetItem per subscription per second).

    .venv/bin/python bench/aws_cost.py [--skus 20] [--reservations 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))  # the tests' moto server (DynamoDB one request at a time), free_port

from tests.loopback import free_port  # noqa: E402

from eventfold import Origin  # noqa: E402
from eventfold.adapters.aws.clients import dynamodb_client  # noqa: E402
from eventfold.adapters.aws.dynamodb_items import TableNames, item_size  # noqa: E402
from eventfold.adapters.aws.tables import create_tables  # noqa: E402
from eventfold.adapters.mail.mail_sink import start_mail_sink  # noqa: E402
from eventfold.core.router.rebuild import rebuild  # noqa: E402
from eventfold.core.router.worker import SubscriptionRunner  # noqa: E402
from eventfold.entry.composition import context_on, router_parts  # noqa: E402
from eventfold.entry.context_reads import migrate_query_model  # noqa: E402
from eventfold.entry.service import installed_services  # noqa: E402
from eventfold.entry.settings import load_settings, open_store  # noqa: E402
from eventfold.entry.worker import HeadOfFeed, subscriptions_of  # noqa: E402
from reservations import app  # noqa: E402
from reservations.domain.reservation import (  # noqa: E402
    Canceler,
    CancelReservation,
    CompletePickup,
    RequestReservation,
    SecureStock,
)
from reservations.domain.stock import SetStockLevel  # noqa: E402
from reservations.published_language import PROTOBUF_CODEC  # noqa: E402

KB, READ_UNIT = 1024, 4096
LIVE_COMMANDS = 10
"""Reservations routed one command at a time (the steady state of a live system)."""


@dataclass
class Tally:
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wcu: float = 0.0
    rcu: float = 0.0

    def merge(self, other: Tally) -> None:
        for operation, count in other.requests.items():
            self.requests[operation] += count
        self.wcu += other.wcu
        self.rcu += other.rcu

    def add(self, operation: str, wcu: float, rcu: float) -> None:
        self.requests[operation] += 1
        self.wcu += wcu
        self.rcu += rcu


def _writes(size: int) -> int:
    return max(1, math.ceil(size / KB))


def _reads(size: int) -> int:
    return max(1, math.ceil(size / READ_UNIT))


def capacity(
    operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]
) -> tuple[float, float]:
    """(WCU, RCU) of one DynamoDB call by AWS's sizing rules."""
    consistent = 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "TransactWriteItems":
        wcu = 0
        for action in params["TransactItems"]:
            ((_, body),) = action.items()
            item = body.get("Item") or {**body["Key"], **body.get("ExpressionAttributeValues", {})}
            wcu += 2 * _writes(item_size(item))
        return wcu, 0.0
    if operation == "PutItem":
        return _writes(item_size(params["Item"])), 0.0
    if operation == "UpdateItem":
        return _writes(
            item_size({**params["Key"], **params.get("ExpressionAttributeValues", {})})
        ), 0.0
    if operation == "DeleteItem":
        return 1.0, 0.0
    if operation == "BatchWriteItem":
        wcu = 0
        for requests in params["RequestItems"].values():
            for request in requests:
                put = request.get("PutRequest")
                wcu += _writes(item_size(put["Item"])) if put else 1
        return wcu, 0.0
    if operation == "GetItem":
        return 0.0, consistent * _reads(item_size(parsed.get("Item", {})))
    if operation == "BatchGetItem":
        rcu = 0.0
        for table, asked in params["RequestItems"].items():
            factor = 1.0 if asked.get("ConsistentRead") else 0.5
            found = parsed.get("Responses", {}).get(table, [])
            rcu += factor * sum(_reads(item_size(item)) for item in found)
            rcu += factor * max(0, len(asked["Keys"]) - len(found))  # misses: the minimum
        return 0.0, rcu
    if operation in ("Query", "Scan"):
        size = sum(item_size(item) for item in parsed.get("Items", []))
        return 0.0, consistent * _reads(size)
    return 0.0, 0.0  # control plane and DynamoDB Streams: no capacity units


class Meter:
    """Counts a client's requests and units under the current label (thread-safe)."""

    def __init__(self) -> None:
        self.label = "setup"
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-parameter-build.{service}", self._keep)
        client.meta.events.register(f"after-call.{service}", self._count)

    def _keep(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["metered_params"] = params

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        wcu, rcu = capacity(model.name, context.get("metered_params", {}), parsed)
        with self._lock:
            self.tallies[self.label].add(model.name, wcu, rcu)

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        self.label = label
        try:
            yield
        finally:
            self.label = "other"


def commands(handler: Any, meter: Meter, skus: int, count: int) -> dict[str, int]:
    """The workload; returns how many commands of each type ran."""
    now = datetime.now(UTC)
    ran: dict[str, int] = defaultdict(int)

    def run(name: str, call: Any, *args: Any) -> None:
        with meter.labelled(name):
            call(handler, *args, Origin(command_id=f"{name}-{ran[name]}"))
        ran[name] += 1

    for n in range(skus):
        run("set_stock_level", app.set_stock_level, SetStockLevel("s1", f"sku-{n}", 1000, now))
    ids = [f"r{n:05d}" for n in range(count)]
    for n, rid in enumerate(ids):
        request = RequestReservation(rid, f"c-{n % 50}", "s1", f"sku-{n % skus}", 1 + n % 3, now)
        run("request_reservation", app.request_reservation, request)
    secured = ids[: count * 7 // 10]
    for rid in secured:
        run("secure_stock", app.secure_stock, SecureStock(rid, now))
    for rid in secured[: len(secured) // 2]:
        run("complete_pickup", app.complete_pickup, CompletePickup(rid, now))
    for rid in ids[len(secured) :][: max(1, count * 15 // 100)]:
        cancel = CancelReservation(rid, Canceler.CUSTOMER, "plans changed", now)
        run("cancel_reservation", app.cancel_reservation, cancel)
    return dict(ran)


def per(tally: Tally, count: int) -> dict[str, Any]:
    return {
        "count": count,
        "requests": round(sum(tally.requests.values()) / count, 3),
        "wcu": round(tally.wcu / count, 3),
        "rcu": round(tally.rcu / count, 3),
        "by_operation": {op: round(n / count, 3) for op, n in sorted(tally.requests.items())},
    }


def measure(endpoint: str, region: str, skus: int, count: int, folder: Path) -> dict[str, Any]:
    prefix = "cost-"
    create_tables(dynamodb_client(region=region, endpoint_url=endpoint), TableNames(prefix))
    port = free_port()
    sink = start_mail_sink(folder / "mail", "127.0.0.1", port)
    environ = {
        "EVENTFOLD_STORE": "dynamodb",
        "EVENTFOLD_TABLE_PREFIX": prefix,
        "EVENTFOLD_AWS_REGION": region,
        "EVENTFOLD_AWS_ENDPOINT_URL": endpoint,
        "EVENTFOLD_FEED": "streams",
        "EVENTFOLD_QUERY_URL": f"sqlite:///{folder / 'query.db'}",
        "EVENTFOLD_MAIL_SINK": "off",  # SMTP to the sink above, as a deployment would
        "EVENTFOLD_SMTP_PORT": str(port),
        "EVENTFOLD_SERVICES": "reservations",
    }
    settings = load_settings(environ)
    meter = Meter()
    with ExitStack() as stack:
        stack.callback(sink.stop)
        store = stack.enter_context(open_store(settings))
        meter.attach(store.client)  # type: ignore[attr-defined]
        ran = commands(app.make_handler(store, PROTOBUF_CODEC), meter, skus, count)
        context = context_on(store, settings)
        services = installed_services(settings.services)
        migrate_query_model(services, context)
        subscriptions = subscriptions_of(services, context)
        parts = router_parts(settings, store)
        stack.callback(parts.close)
        assert isinstance(parts.feed, HeadOfFeed)
        meter.attach(parts.feed.feed.client)  # type: ignore[attr-defined]
        runners = {
            s.name: SubscriptionRunner(
                s,
                parts.feed,
                store,
                checkpoints=parts.checkpoints,
                versions=parts.versions,
                parking=parts.parking,
            )
            for s in subscriptions
        }
        routed: dict[str, int] = {}
        idle: dict[str, Tally] = {}
        for name, runner in runners.items():  # catching up: big batches
            with meter.labelled(name):
                routed[name] = 0
                while (read := runner.step(timeout=0.0)) > 0:
                    routed[name] += read
            with meter.labelled(f"idle {name}"):
                runner.step(timeout=0.0)
            idle[name] = meter.tallies.pop(f"idle {name}")
        handler = app.make_handler(store, PROTOBUF_CODEC)
        live_events = 0
        for n in range(LIVE_COMMANDS):  # live: each command's events routed on their own
            with meter.labelled("live commands"):
                request = RequestReservation(
                    f"live-{n}", "c-live", "s1", "sku-0", 1, datetime.now(UTC)
                )
                placed = app.request_reservation(handler, request, Origin(command_id=f"live-{n}"))
            for name, runner in runners.items():
                with meter.labelled(f"live {name}"):
                    read = runner.step(timeout=0.0)
            live_events += read
            assert placed.version == 1
        view = next(s for s in subscriptions if s.name == "reservations_view")
        with meter.labelled("rebuild"):
            rebuild(view, store, parts.checkpoints)
        events = max(routed.values())
    tallies = meter.tallies
    catch_up, live = Tally(), Tally()
    for name in routed:
        catch_up.merge(tallies[name])
        live.merge(tallies[f"live {name}"])
    return {
        "workload": {"skus": skus, "reservations": count, "commands": ran, "events": events},
        "per_command": {name: per(tallies[name], n) for name, n in ran.items()},
        "per_projected_event": {
            **{name: per(tallies[name], routed[name]) for name in routed},
            "all subscriptions": per(catch_up, events),
        },
        "per_live_event": {
            **{name: per(tallies[f"live {name}"], live_events) for name in routed},
            "all subscriptions": per(live, live_events),
        },
        "idle_poll_per_subscription": {name: dict(t.requests) for name, t in idle.items()},
        "rebuild_per_event": per(tallies["rebuild"], events),
    }


def show(result: dict[str, Any]) -> None:
    work = result["workload"]
    print(f"workload: {work['commands']} -> {work['events']} events")
    sections = [
        ("per command", result["per_command"]),
        ("per projected event, catching up", result["per_projected_event"]),
        ("per projected event, live", result["per_live_event"]),
        ("per event, rebuild", {"reservations_view (scan)": result["rebuild_per_event"]}),
    ]
    for title, rows in sections:
        print(f"{title:<36}{'requests':>9}{'WCU':>8}{'RCU':>8}  operations")
        for name, row in rows.items():
            ops = ", ".join(f"{op} {n:g}" for op, n in row["by_operation"].items())
            print(f"  {name:<34}{row['requests']:>9g}{row['wcu']:>8g}{row['rcu']:>8g}  {ops}")
    print("one idle poll per subscription:", json.dumps(result["idle_poll_per_subscription"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=20)
    parser.add_argument("--reservations", type=int, default=200)
    parser.add_argument("--endpoint-url", default=None, help="default: moto on loopback")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        endpoint = args.endpoint_url
        if endpoint is None:
            from tests.aws_support.moto_server import start_moto

            logging.getLogger("werkzeug").setLevel(logging.WARNING)

            server, _ = start_moto()
            stack.callback(server.shutdown)
            endpoint = f"http://127.0.0.1:{server.server_port}"
        result = measure(endpoint, args.region, args.skus, args.reservations, Path(folder))
    show(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "aws_cost.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
