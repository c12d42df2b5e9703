"""``/metrics`` of the HTTP entry point: requests by route template and status, their
latency, and commands by outcome; ``/docs`` and ``/redoc`` with no asset from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from eventfold import SqliteEventStore
from eventfold.entry.http.metrics import HttpMetrics
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, migrate_query_model
from reservations.service import service
from tests.examples.callers import every_role


@pytest.fixture
def client(store: SqliteEventStore, token_issuer: TokenIssuer) -> Iterator[TestClient]:
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    context = ServiceContext(store, command_outcomes=metrics.command)
    migrate_query_model([service], context)
    app = create_app(
        [service],
        context,
        authentication=token_issuer.authentication,
        metrics=registry,
        http_metrics=metrics,
    )
    with TestClient(app, headers=every_role(token_issuer)) as test_client:
        yield test_client


def value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and ",".join(sorted(found.group(1).split(","))) == wanted:
            return float(found.group(2))
    raise AssertionError(f"no {name}{{{wanted}}} in /metrics")


def test_requests_and_commands_are_counted_by_route_status_and_outcome(
    client: TestClient,
) -> None:
    assert client.put("/stores/s1/stock/sku1", json={"on_hand": 1}).status_code == 200
    body = {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": 1}
    key = {"Idempotency-Key": "k-1"}
    assert client.post("/reservations", json=body, headers=key).status_code == 201
    assert client.post("/reservations", json=body, headers=key).status_code == 201  # replay
    assert client.post("/reservations", json=body).status_code == 409  # out of stock
    assert client.get("/reservations/r-nope").status_code == 404

    text = client.get("/metrics").text

    assert value(text, "eventfold_commands_total", outcome="committed") == 2
    assert value(text, "eventfold_commands_total", outcome="duplicate") == 1
    assert value(text, "eventfold_commands_total", outcome="refused") == 1
    assert value(text, "eventfold_commands_total", outcome="conflict") == 0
    requests = "eventfold_http_requests_total"
    assert value(text, requests, method="POST", route="/reservations", status="201") == 2
    assert value(text, requests, method="POST", route="/reservations", status="409") == 1
    template = "/reservations/{reservation_id}"
    assert value(text, requests, method="GET", route=template, status="404") == 1
    latency = "eventfold_http_request_duration_seconds_count"
    assert value(text, latency, method="POST", route="/reservations") == 3


def test_metrics_stay_for_the_operator_role(client: TestClient, token_issuer: TokenIssuer) -> None:
    customer = token_issuer.headers("c1", "customer")
    assert client.get("/metrics", headers=customer).status_code == 403
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_every_asset_from_the_service_itself(client: TestClient, page: str) -> None:
    html = client.get(page, headers={"Authorization": ""})  # public, like the schema
    assert html.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    urls = re.findall(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html.text)
    assert assets
    for asset in assets + urls:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
    assert "cdn" not in html.text.lower()
    assert not re.findall(r"https?://", html.text)
    for asset in assets:
        served = client.get(asset, headers={"Authorization": ""})
        assert served.status_code == 200, asset
        assert len(served.content) > 1000
