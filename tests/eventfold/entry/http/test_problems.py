"""Every error the HTTP entry point answers is RFC 9457 problem+json.

A tiny counter service (its own Decider, real SQLite store in tmp_path) raises each of
eventfold's errors through real routes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventfold import SqliteEventStore
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app
from tests.eventfold.entry.counters import Added, codec, counter_client

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "issues"}


@pytest.fixture
def client(tmp_path: Path, token_issuer: TokenIssuer) -> Iterator[TestClient]:
    operator = token_issuer.headers("tester", "operator")
    with counter_client(tmp_path, token_issuer, headers=operator) as test_client:
        yield test_client


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    return body


def test_a_command_that_succeeds_is_plain_json(client: TestClient) -> None:
    response = client.post("/counters/a/add", json={"amount": 2, "note": "hi"})
    assert response.status_code == 200
    assert response.json() == {"version": 1}


def test_request_validation_lists_every_issue_with_body_paths(client: TestClient) -> None:
    body = problem(
        client.post("/counters/a/add", json={"amount": "x", "note": "too long", "tags": [1]}),
        422,
    )
    issues = {i["path"]: i["code"] for i in body["issues"]}
    assert issues == {
        "body.amount": "int_parsing",
        "body.note": "string_too_long",
        "body.tags.0": "string_type",
    }
    assert body["detail"].startswith("3 issues")
    assert body["type"] == "urn:eventfold:problem:invalid-request"


def test_missing_fields_and_bad_query_and_header_are_reported_together(
    client: TestClient,
) -> None:
    response = client.post(
        "/counters/a/add?expected_version=abc", json={}, headers={"Idempotency-Key": ""}
    )
    paths = {i["path"] for i in problem(response, 422)["issues"]}
    assert paths == {
        "body.amount",
        "body.note",
        "query.expected_version",
        "header.Idempotency-Key",
    }


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcg=="])
def test_a_caller_without_a_valid_token_is_401_whatever_else_is_wrong(
    client: TestClient, authorization: str | None
) -> None:
    headers = {"Idempotency-Key": ""}  # invalid too: authentication is checked first
    if authorization is not None:
        headers["Authorization"] = authorization
    request = client.build_request(
        "POST", "/counters/a/add?expected_version=abc", json={}, headers=headers
    )
    if authorization is None:
        del request.headers["Authorization"]  # the client's default token
    response = client.send(request)
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("raw", [b"{", b'{"amount": 1,}', b"\xff\xfe"])
def test_malformed_json_is_a_422_problem_not_a_500(client: TestClient, raw: bytes) -> None:
    response = client.post(
        "/counters/a/add", content=raw, headers={"content-type": "application/json"}
    )
    body = problem(response, 422)
    assert body["issues"][0]["path"] == "body"


def test_invalid_command_lists_every_domain_issue(client: TestClient) -> None:
    body = problem(client.post("/counters/a/add", json={"amount": 0, "note": ""}), 422)
    assert body["type"].endswith("invalid-command")
    assert body["issues"] == [
        {"path": "amount", "message": "must be positive", "code": "too_small"},
        {"path": "", "message": "adding nothing is not a change", "code": "no_change"},
    ]


def test_rule_violated_is_409_with_its_code(client: TestClient) -> None:
    client.post("/counters/a/add", json={"amount": 9, "note": ""})
    body = problem(client.post("/counters/a/add", json={"amount": 2, "note": ""}), 409)
    assert body["type"].endswith("rule-violated")
    assert body["issues"] == [
        {"path": "", "message": "a counter never exceeds 10", "code": "limit"}
    ]


def test_concurrency_conflict_is_409_naming_both_versions(client: TestClient) -> None:
    client.post("/counters/a/add", json={"amount": 1, "note": ""})
    client.post("/counters/a/add", json={"amount": 1, "note": ""})
    body = problem(
        client.post("/counters/a/add?expected_version=1", json={"amount": 1, "note": ""}), 409
    )
    assert body["type"].endswith("concurrency-conflict")
    assert (body["expected_version"], body["actual_version"]) == (1, 2)
    assert "expected version 1" in body["detail"]
    assert "found version 2" in body["detail"]


def test_stream_not_found_is_404(client: TestClient) -> None:
    body = problem(
        client.post("/counters/nope/add?expected_version=3", json={"amount": 1, "note": ""}),
        404,
    )
    assert body["type"].endswith("stream-not-found")
    assert body["stream_id"] == "counter-nope"


def test_idempotency_key_reused_for_another_command_is_422(client: TestClient) -> None:
    key = {"Idempotency-Key": "k-1"}
    first = client.post("/counters/a/add", json={"amount": 1, "note": ""}, headers=key)
    again = client.post("/counters/a/add", json={"amount": 1, "note": ""}, headers=key)
    assert first.json() == again.json() == {"version": 1}
    body = problem(client.post("/counters/a/add", json={"amount": 2, "note": ""}, headers=key), 422)
    assert body["type"].endswith("idempotency-key-reused")


def test_store_unavailable_is_503_with_retry_after(client: TestClient) -> None:
    response = client.post("/raise/unavailable")
    body = problem(response, 503)
    assert int(response.headers["retry-after"]) >= 1
    assert body["type"].endswith("store-unavailable")


def test_configuration_error_is_a_500_problem_saying_what_to_fix(client: TestClient) -> None:
    body = problem(client.post("/raise/configuration"), 500)
    assert body["detail"] == "EVENTFOLD_X is wrong: set it right"


@pytest.mark.parametrize(
    ("kind", "secret", "slug"),
    [
        ("store", "/secret/path", "store-error"),
        ("codec", "secret-1", "codec-error"),
        ("unexpected", "hunter2", "internal-error"),
    ],
)
def test_internal_failures_are_500_problems_that_leak_nothing_and_are_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture, kind: str, secret: str, slug: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="eventfold.http"):
        response = client.post(f"/raise/{kind}")
    body = problem(response, 500)
    assert body["type"] == f"urn:eventfold:problem:{slug}"
    assert [i["code"] for i in body["issues"]] == [slug.replace("-", "_")]
    assert secret not in response.text
    assert "Traceback" not in response.text
    assert any(secret in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    body = problem(client.get("/no/such/route"), 404)
    assert body["type"] == "about:blank"
    assert "/no/such/route" in body["detail"]


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.get("/counters/a/add")
    problem(response, 405)
    assert response.headers["allow"] == "POST"


def test_allow_lists_the_methods_of_every_route_on_the_path(client: TestClient) -> None:
    response = client.delete("/healthz")  # GET and HEAD are two routes
    problem(response, 405)
    assert response.headers["allow"] == "GET, HEAD"  # was "GET": the first route's only


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b'{"amount": 1, "note": "\xff\xff"}'.decode("unicode_escape").encode("latin-1"), "UTF-8"),
    ],
)
def test_json_python_cannot_decode_is_a_422_like_other_bad_json(
    client: TestClient, raw: bytes, reason: str
) -> None:
    response = client.post(
        "/counters/a/add", content=raw, headers={"content-type": "application/json"}
    )
    body = problem(response, 422)  # was a 400 "There was an error parsing the body"
    assert body["type"] == "urn:eventfold:problem:invalid-request"
    assert [(i["path"], i["code"]) for i in body["issues"]] == [("body", "json_invalid")]
    assert reason in body["issues"][0]["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_body_that_is_not_json_is_a_415_problem(client: TestClient, content_type: str) -> None:
    response = client.post(
        "/counters/a/add",
        content=b'{"amount": 1, "note": "hi"}',
        headers={"content-type": content_type},
    )
    body = problem(response, 415)  # was a 422 saying the body is not an object
    assert content_type in body["detail"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/x+json"])
def test_json_media_types_are_accepted(
    client: TestClient, tmp_path: Path, content_type: str
) -> None:
    response = client.post(
        "/counters/a/add",
        content=b'{"amount": 3, "note": "hi"}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"version": 1}
    # Accepted means the command ran on that body: one Added of 3 in the store.
    store = SqliteEventStore(tmp_path / "eventfold.db")
    try:
        assert [codec.decode(e) for e in store.read("counter-a")] == [Added(3)]
    finally:
        store.close()
    # And a bad body of that type is a 422 about its fields, not a 415 about its type.
    bad = client.post(
        "/counters/a/add", content=b'{"amount": "x"}', headers={"content-type": content_type}
    )
    assert {i["path"] for i in problem(bad, 422)["issues"]} == {"body.amount", "body.note"}


def test_healthz_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "services": ["counters"]}
    head = client.head("/healthz")
    assert head.status_code == 200  # was 405: probes that send HEAD saw the service down
    assert head.content == b""
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/counters/{counter_id}/add" in schema["paths"]
    assert schema["tags"] == [{"name": "counters", "description": "Counters that add up."}]


def test_runners_start_with_the_app_and_stop_in_reverse_order(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    log: list[str] = []

    def runner(name: str) -> Any:
        def start() -> Any:
            log.append(f"start {name}")
            return lambda: log.append(f"stop {name}")

        return start

    store = SqliteEventStore(tmp_path / "eventfold.db")
    app = create_app(
        [],
        ServiceContext(store),
        authentication=token_issuer.authentication,
        runners=[runner("a"), runner("b")],
    )
    with TestClient(app) as test_client:
        assert log == ["start a", "start b"]
        test_client.get("/healthz")
    assert log == ["start a", "start b", "stop b", "stop a"]
    store.close()
