"""deploy/aws/template.yaml read as data: an alarm for every signal the deployment must
watch, on the metrics the router's Lambda wiring really emits (LambdaMetrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.entry.aws_lambda.metrics import LambdaMetrics
from tests.aws_support.sam_stack import TEMPLATE


def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def alarms() -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, metric) -> the alarm's properties."""
    found = {}
    for resource in template()["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            properties = resource["Properties"]
            found[(properties["Namespace"], properties["MetricName"])] = properties
    return found


def test_every_signal_has_an_alarm() -> None:
    assert set(alarms()) >= {
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),  # the on-failure queue
        ("AWS/Lambda", "Errors"),
        ("eventfold", "ParkedStreams"),
        ("eventfold", "HealedEvents"),
        ("eventfold", "GapsHealed"),  # versions out of order
    }


def test_the_eventfold_alarms_watch_what_the_router_function_emits(
    tmp_path: Path, capsys: Any
) -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    namespace = variables["POWERTOOLS_METRICS_NAMESPACE"]
    service = variables["POWERTOOLS_SERVICE_NAME"]
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    metrics = LambdaMetrics(state, ["view"], environ={"POWERTOOLS_METRICS_NAMESPACE": namespace})
    metrics.gap_healed("view", "order-1", 1, 3, 1)
    metrics.flush()
    emitted = capsys.readouterr().out
    for (alarm_namespace, name), properties in alarms().items():
        if alarm_namespace != namespace:
            continue
        assert f'"{name}"' in emitted, name
        assert properties["Dimensions"] == [{"Name": "service", "Value": service}]
