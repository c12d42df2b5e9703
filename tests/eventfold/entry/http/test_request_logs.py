"""The ids of an HTTP request on the lines logged while it is handled (RequestEdges)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventfold.testing import TokenIssuer
from tests.eventfold.entry.counters import counter_client


@pytest.fixture
def client(tmp_path: Path, token_issuer: TokenIssuer) -> Iterator[TestClient]:
    with counter_client(tmp_path, token_issuer) as test_client:
        yield test_client


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_a_failed_command_is_logged_with_its_command_and_request_ids(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"Idempotency-Key": "cmd-42", "X-Request-Id": "req-9"}
    assert client.post("/raise/unexpected", headers=headers).status_code == 500
    [line] = [ln for ln in logged(capsys) if ln["logger"] == "eventfold.http"]
    assert (line["command_id"], line["request_id"]) == ("cmd-42", "req-9")
    assert (line["method"], line["path"]) == ("POST", "/raise/unexpected")
    assert line["timestamp"]
    assert "Traceback" in line["exception"]


def test_the_ids_stay_with_their_request(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.post("/raise/unexpected", headers={"Idempotency-Key": "cmd-1"})
    client.post("/raise/unexpected")
    first, second = [ln for ln in logged(capsys) if ln["logger"] == "eventfold.http"]
    assert first["command_id"] == "cmd-1"
    assert "command_id" not in second
