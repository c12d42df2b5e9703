"""The one layer every request passes through (RequestEdges): the statuses it answers
itself, a 413 for a body over the bound and a 500 for an exception no handler took, are
counted in the request metrics like any other answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from eventfold.testing import TokenIssuer
from tests.eventfold.entry.counters import counter_client

LIMIT = 1024


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(
    tmp_path: Path, token_issuer: TokenIssuer, registry: CollectorRegistry
) -> Iterator[TestClient]:
    operator = token_issuer.headers("tester", "operator")
    with counter_client(
        tmp_path, token_issuer, headers=operator, metrics=registry, max_body_bytes=LIMIT
    ) as test_client:
        yield test_client


def counted(registry: CollectorRegistry, method: str, route: str, status: int) -> float:
    text = generate_latest(registry).decode()
    labels = f'method="{method}",route="{route}",status="{status}"'
    found = re.search(
        rf"^eventfold_http_requests_total\{{{re.escape(labels)}\}} (\S+)$", text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_an_unexpected_failure_is_counted_as_the_500_it_answered(
    client: TestClient, registry: CollectorRegistry
) -> None:
    assert client.post("/raise/unexpected").status_code == 500
    assert client.post("/raise/unexpected").status_code == 500
    assert counted(registry, "POST", "/raise/{kind}", 500) == 2


def test_a_body_over_the_bound_is_counted_as_the_413_it_answered(
    client: TestClient, registry: CollectorRegistry
) -> None:
    response = client.post("/counters/a/add", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    # Refused before routing: no route template to name.
    assert counted(registry, "POST", "unmatched", 413) == 1
    assert client.post("/counters/a/add", json={"amount": 1, "note": "hi"}).status_code == 200
    assert counted(registry, "POST", "/counters/{counter_id}/add", 200) == 1
