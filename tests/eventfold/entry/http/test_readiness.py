"""``/readyz``: 200 when every dependency answers, 503 problem+json naming each that does
not; public, GET and HEAD."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from eventfold import SqliteEventStore
from eventfold.entry.composition import readiness_checks
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app


def test_ready_when_every_check_answers_and_503_naming_those_that_do_not(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    store = SqliteEventStore(tmp_path / "eventfold.db")
    answers: dict[str, str | None] = {"event store": None, "router": None}
    checks = {name: (lambda name=name: answers[name]) for name in answers}
    app = create_app(
        [], ServiceContext(store), authentication=token_issuer.authentication, readiness=checks
    )
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": ["event store", "router"]}
        assert client.head("/readyz").status_code == 200
        answers["router"] = "the router process does not answer (refused)"
        down = client.get("/readyz")
    store.close()
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert down.headers["retry-after"] == "5"
    assert [(i["path"], i["code"]) for i in down.json()["issues"]] == [("router", "not_ready")]


def test_the_composition_root_checks_store_query_model_and_router(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    store = SqliteEventStore(tmp_path / "eventfold.db")
    context = ServiceContext(store)
    checks = readiness_checks(context, "http://127.0.0.1:9/metrics")  # nothing listens there
    assert sorted(checks) == ["event store", "query model", "router"]
    assert checks["event store"]() is None
    assert checks["query model"]() is None
    failing = checks["router"]()
    assert failing is not None
    assert failing.startswith("the router process does not answer")
    store.close()
