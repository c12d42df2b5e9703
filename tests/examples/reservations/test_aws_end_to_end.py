"""The production profile end to end, built from settings alone: HTTP command -> DynamoDB
(one transaction) -> DynamoDB Streams -> router (state in the checkpoints table) -> MySQL
query model -> query API; and a rebuild from the events table itself (parallel scan) for
events the stream no longer holds, handing over to the live stream with nothing lost and
nothing applied twice. moto in server mode + MariaDB; nothing patched."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from eventfold.adapters.aws.clients import dynamodb_client, kinesis_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.tables import FeedKind, create_tables
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app as cli
from eventfold.entry.composition import router_runner, service_context
from eventfold.entry.context_reads import migrate_query_model
from eventfold.entry.http import create_app
from eventfold.entry.service import installed_services
from eventfold.entry.settings import Settings, load_settings
from eventfold.entry.telemetry import Telemetry
from eventfold.sql import create_engine
from reservations.projection import reservations, stock_levels
from tests.aws_support.moto_server import MotoAws
from tests.examples.callers import every_role, shared_issuer
from tests.waiting import eventually

PREFIX = "shop-"
pytestmark = [pytest.mark.aws, pytest.mark.mysql]


def production_environ(aws: MotoAws, query_url: str, home: Path) -> dict[str, str]:
    """The production profile's settings, pointed at moto and MariaDB."""
    return {
        "EVENTFOLD_STORE": "dynamodb",
        "EVENTFOLD_TABLE_PREFIX": PREFIX,
        "EVENTFOLD_AWS_REGION": aws.region,
        "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
        "EVENTFOLD_FEED": "streams",
        "EVENTFOLD_FEED_POLL_INTERVAL": "0.1",
        "EVENTFOLD_QUERY_URL": query_url,
        "EVENTFOLD_READ_WAIT": "20",
        "EVENTFOLD_HOME": str(home),
        "EVENTFOLD_SERVICES": "reservations",
    }


def make_tables(settings: Settings, feed: FeedKind = "streams") -> None:
    """What `eventfold aws create-tables` does (feed kinesis: the events table WITHOUT a
    DynamoDB stream, as an account that switched Streams on later)."""
    client = dynamodb_client(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    kinesis = None
    if feed == "kinesis":
        kinesis = kinesis_client(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    create_tables(client, TableNames(settings.table_prefix), feed=feed, kinesis=kinesis)


@contextmanager
def serving(settings: Settings, *, router: bool = True) -> Iterator[TestClient]:
    """The HTTP app with what `eventfold run` starts beside it (the router and the SMTP
    sink), here in one process."""
    services = installed_services(settings.services)
    with service_context(settings) as context:
        migrate_query_model(services, context)
        runners = [router_runner(settings, services, context, Telemetry())] if router else []
        issuer = shared_issuer()
        app = create_app(services, context, authentication=issuer.authentication, runners=runners)
        with TestClient(app, headers=every_role(issuer)) as client:
            yield client


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def reserve(api: TestClient, customer: str, store: str, sku: str, quantity: int) -> str:
    body = {"customer_id": customer, "store_id": store, "sku": sku, "quantity": quantity}
    as_customer = shared_issuer().headers(customer, "customer")
    return str(ok(api.post("/reservations", json=body, headers=as_customer), 201)["reservation_id"])


def query_rows(engine: Engine) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[int, int]]]:
    """reservation id -> (status, version); "store/sku" -> (on hand, held)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(reservations.c.reservation_id, reservations.c.status, reservations.c.version)
        )
        rows = {rid: (status, version) for rid, status, version in found}
        levels = conn.execute(
            select(
                stock_levels.c.store_id,
                stock_levels.c.sku,
                stock_levels.c.on_hand,
                stock_levels.c.held,
            )
        )
        stock = {f"{s}/{sku}": (on_hand, held) for s, sku, on_hand, held in levels}
    return rows, stock


def test_a_command_over_http_reaches_the_query_api_through_dynamodb_streams_and_mysql(
    aws: MotoAws,
    mysql_url: str,
    tmp_path: Path,
) -> None:
    settings = load_settings(production_environ(aws, mysql_url, tmp_path / "home"))
    make_tables(settings)
    with serving(settings) as api:
        ok(api.put("/stores/s1/stock/sku-1", json={"on_hand": 5}))
        placed = ok(
            api.post(
                "/reservations",
                json={"customer_id": "c1", "store_id": "s1", "sku": "sku-1", "quantity": 2},
            ),
            201,
        )
        rid, version = placed["reservation_id"], placed["version"]
        first = ok(api.get(f"/reservations/{rid}", params={"min_version": version}))
        assert (first["status"], first["version"], first["quantity"]) == ("accepted", 1, 2)
        secured = ok(api.post(f"/reservations/{rid}/secure"))["version"]
        again = ok(api.get(f"/reservations/{rid}", params={"min_version": secured}))
        assert (again["status"], again["version"]) == ("secured", 2)
        stock = ok(api.get("/stores/s1/stock/sku-1", params={"min_version": 2}))
        assert (stock["on_hand"], stock["held"], stock["available"]) == (5, 2, 3)
        mail = settings.mail_folder
        eventually("both e-mails", lambda: len(list(mail.glob("*.eml"))) >= 2)
    engine = create_engine(mysql_url)
    rows, levels = query_rows(engine)
    engine.dispose()
    assert rows == {rid: ("secured", 2)}
    assert levels == {"s1/sku-1": (5, 2)}
    subjects = sorted(
        str(email.message_from_bytes(p.read_bytes())["Subject"]) for p in mail.glob("*.eml")
    )
    assert subjects == [f"Reservation {rid} is ready", f"Reservation {rid} received"]
    # the router's checkpoint lives in the checkpoints table, not on a disk
    item = aws.client("dynamodb").get_item(
        TableName=f"{PREFIX}checkpoints",
        Key={"scope": {"S": "checkpoint"}, "key": {"S": "reservations_view"}},
    )
    assert item["Item"]["checkpoint"]["S"].startswith("{")


def test_a_rebuild_reads_what_the_stream_no_longer_holds_and_hands_over_to_it(
    aws: MotoAws,
    mysql_url: str,
    tmp_path: Path,
) -> None:
    environ = production_environ(aws, mysql_url, tmp_path / "home")
    settings = load_settings(environ)
    make_tables(settings, feed="kinesis")  # the events table has no DynamoDB stream yet
    old: list[str] = []
    with serving(settings, router=False) as api:  # history the stream will never show
        for sku in ("old-1", "old-2", "both"):
            ok(api.put(f"/stores/s1/stock/{sku}", json={"on_hand": 9}))
        old = [reserve(api, f"c-{n}", "s1", "old-1" if n % 2 else "both", 1) for n in range(4)]
        ok(api.post(f"/reservations/{old[0]}/secure"))
        ok(
            api.post(
                f"/reservations/{old[1]}/cancel",
                json={"reason": "changed my mind"},
            )
        )
    make_tables(settings)  # switches Streams on: like records past the 24 h retention
    engine = create_engine(mysql_url)
    with serving(settings) as api:
        live = reserve(api, "c-live", "s1", "both", 2)
        ok(api.get(f"/reservations/{live}", params={"min_version": 1}))
        rows, levels = query_rows(engine)
        assert old[3] not in rows  # only in the events table
        assert "s1/old-2" not in levels
        # "both" was healed from the events table when its live event arrived
        assert levels["s1/both"] == (9, 2 + 2)

        result = CliRunner().invoke(
            cli, ["rebuild", "reservations_view"], obj=CliContext(environ=environ)
        )
        assert result.exit_code == 0, result.output
        assert "rebuilt reservations_view" in result.output

        after = reserve(api, "c-after", "s1", "old-2", 3)
        ok(api.post(f"/reservations/{live}/secure"))
        ok(api.post(f"/reservations/{live}/pickup"))
        ok(api.get(f"/reservations/{after}", params={"min_version": 1}))
        ok(api.get(f"/reservations/{live}", params={"min_version": 3}))
        expected = {rid: ok(api.get(f"/reservations/{rid}"))["version"] for rid in [*old, live]}
    rows, levels = query_rows(engine)
    engine.dispose()
    assert {rid: version for rid, (_, version) in rows.items()} == {**expected, after: 1}
    statuses = {rid: status for rid, (status, _) in rows.items()}
    assert (statuses[old[0]], statuses[old[1]], statuses[live]) == (
        "secured",
        "canceled",
        "picked_up",
    )
    # held/on hand are sums of events: an event applied twice would show here
    assert levels == {"s1/old-1": (9, 1), "s1/old-2": (9, 3), "s1/both": (7, 2)}
