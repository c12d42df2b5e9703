"""The router's metrics on Lambda: each invocation prints one CloudWatch EMF document (AWS
Lambda Powertools) with what the worker serves on /metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import RetryPolicy, Subscription
from eventfold.domain.events import RecordedEvent
from eventfold.entry.aws_lambda import router_handlers
from eventfold.entry.aws_lambda.metrics import LambdaMetrics
from tests.eventfold.adapters.aws.change_records import (
    dynamodb_stream_event,
    kinesis_change,
    kinesis_event,
)
from tests.eventfold.core.router.targets import SqliteTarget, fill
from tests.eventfold.entry.aws_lambda.test_router_handlers import LambdaContext

ENVIRON = {"POWERTOOLS_METRICS_NAMESPACE": "eventfold-test", "POWERTOOLS_SERVICE_NAME": "router"}


@pytest.fixture
def state(tmp_path: Path) -> SqliteRouterState:
    return SqliteRouterState(tmp_path / "router.db", durability="off")


def emf_documents(output: str) -> list[dict[str, Any]]:
    """The EMF documents among the lines printed on stdout."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def metric_values(document: dict[str, Any]) -> dict[str, list[float]]:
    """metric name -> its values, for the metrics the document declares."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "eventfold-test"
    assert directive["Dimensions"] == [["service"]]
    assert document["service"] == "router"
    names = [m["Name"] for m in directive["Metrics"]]
    return {n: document[n] if isinstance(document[n], list) else [document[n]] for n in names}


def test_a_parked_stream_shows_in_the_emf_output(
    store: SqliteEventStore,
    state: SqliteRouterState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(store, {"order-1": 2, "order-2": 1})
    mail = SqliteTarget(tmp_path / "mail.db")

    def poison(event: RecordedEvent) -> None:
        if event.stream_id == "order-1":
            raise ValueError("the mail server refuses this address")

    mail.faults.append(poison)
    subscription = Subscription("mail", mail, retry=RetryPolicy(attempts=2, base_delay=0.0))
    metrics = LambdaMetrics(state, ["mail"], environ=ENVIRON)
    handlers = router_handlers(
        [subscription], store, versions=state, parking=state, observer=metrics
    )
    handle = metrics.published(handlers.dynamodb_stream)
    capsys.readouterr()

    response = handle(dynamodb_stream_event(store.read_all(0, 10)), LambdaContext())

    assert response == {"batchItemFailures": []}
    (document,) = emf_documents(capsys.readouterr().out)
    values = metric_values(document)
    assert values["ParkedStreams"] == [1.0]
    assert values["Parks"] == [1.0]
    assert values["Retries"] == [1.0]
    assert values["AppliedEvents"] == [1.0]  # order-2:1
    assert values["LagEvents"] == [3.0]
    assert "FreshnessSeconds" in values

    # the next invocation reads the gauge from the parking lot again; counters start afresh
    handle({"Records": []}, LambdaContext())
    (document,) = emf_documents(capsys.readouterr().out)
    assert metric_values(document) == {"ParkedStreams": [1.0]}


def test_a_healed_gap_shows_its_counter(
    store: SqliteEventStore,
    state: SqliteRouterState,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(store, {"order-1": 3})
    view = SqliteTarget(tmp_path / "view.db")
    metrics = LambdaMetrics(state, ["view"], environ=ENVIRON)
    handlers = router_handlers(
        [Subscription("view", view)], store, versions=state, parking=state, observer=metrics
    )
    handle = metrics.published(handlers.kinesis)
    first, _, third = store.read_all(0, 10)
    capsys.readouterr()

    # Kinesis delivered version 1, then version 3 before version 2
    handle(kinesis_event([kinesis_change(first)]), LambdaContext())
    handle(kinesis_event([kinesis_change(third)]), LambdaContext())

    first_doc, second_doc = emf_documents(capsys.readouterr().out)
    assert "GapsHealed" not in metric_values(first_doc)
    values = metric_values(second_doc)
    assert values["GapsHealed"] == [1.0]
    assert values["HealedEvents"] == [1.0]
    assert values["AppliedEvents"] == [2.0]
    assert values["ParkedStreams"] == [0.0]
    assert view.by_stream() == {"order-1": [1, 2, 3]}
