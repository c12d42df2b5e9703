"""What every Lambda handler shares: JSON lines with the invocation's id, written once."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from eventfold.entry.aws_lambda.invocations import configure_lambda_logging, logged_invocations


class RuntimeHandler(logging.Handler):
    """Stands in for the Lambda runtime's own root handler."""

    def emit(self, record: logging.LogRecord) -> None:
        pass


@pytest.fixture
def runtime_handler() -> Iterator[RuntimeHandler]:
    handler = RuntimeHandler()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def test_on_lambda_the_runtimes_root_handler_goes(
    runtime_handler: RuntimeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-http")
    configure_lambda_logging()
    assert runtime_handler not in logging.getLogger().handlers


def test_elsewhere_other_root_handlers_stay(
    runtime_handler: RuntimeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    configure_lambda_logging()
    assert runtime_handler in logging.getLogger().handlers


def test_each_line_of_an_invocation_carries_its_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        structlog.stdlib.get_logger("eventfold.test").info("handled")
        return {}

    handle = logged_invocations(handler)
    handle({}, SimpleNamespace(aws_request_id="inv-1"))
    handle({}, None)
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["aws_request_id"] == "inv-1"
    assert "aws_request_id" not in second
