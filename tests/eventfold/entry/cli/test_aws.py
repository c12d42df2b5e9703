"""``eventfold aws create-tables`` against moto in server mode."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from tests.aws_support.moto_server import MotoAws

pytestmark = pytest.mark.aws


def run(aws: MotoAws, *args: str, environ: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["aws", "create-tables", *args],
        obj=CliContext(environ=environ or {}),
    )
    return result.exit_code, result.output


def table_names(aws: MotoAws) -> list[str]:
    names: list[str] = aws.client("dynamodb").list_tables()["TableNames"]
    return sorted(names)


def test_creates_the_tables_with_streams_then_reports_them_as_existing(aws: MotoAws) -> None:
    args = ["--prefix", "shop-", "--endpoint-url", aws.endpoint_url, "--region", aws.region]
    code, output = run(aws, *args)
    assert code == 0, output
    assert table_names(aws) == ["shop-checkpoints", "shop-events", "shop-state"]
    assert "created  table shop-events" in output
    events = aws.client("dynamodb").describe_table(TableName="shop-events")["Table"]
    assert events["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert events["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    code, again = run(aws, *args)
    assert code == 0, again
    assert again.count("exists") == 3


def test_settings_supply_prefix_endpoint_and_region(aws: MotoAws) -> None:
    environ = {
        "EVENTFOLD_TABLE_PREFIX": "env-",
        "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
        "EVENTFOLD_AWS_REGION": aws.region,
    }
    code, output = run(aws, "--billing-mode", "provisioned", environ=environ)
    assert code == 0, output
    assert table_names(aws) == ["env-checkpoints", "env-events", "env-state"]
    state = aws.client("dynamodb").describe_table(TableName="env-state")["Table"]
    assert state["ProvisionedThroughput"]["ReadCapacityUnits"] == 5


def test_kinesis_feed_creates_the_stream_and_says_how_to_connect_it(aws: MotoAws) -> None:
    code, output = run(
        aws, "--feed", "kinesis", "--endpoint-url", aws.endpoint_url, "--region", aws.region
    )
    assert code == 0, output
    summary = aws.client("kinesis").describe_stream_summary(StreamName="eventfold-events")
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 1
    assert summary["StreamDescriptionSummary"]["RetentionPeriodHours"] == 168  # not 24
    assert "keeps records 168 hours" in output
    assert "enable-kinesis-streaming-destination --table-name eventfold-events" in output
    events = aws.client("dynamodb").describe_table(TableName="eventfold-events")["Table"]
    assert not events.get("StreamSpecification", {}).get("StreamEnabled", False)


def test_an_existing_events_table_without_streams_gets_them(aws: MotoAws) -> None:
    base = ["--endpoint-url", aws.endpoint_url, "--region", aws.region]
    assert run(aws, "--feed", "kinesis", *base)[0] == 0
    code, output = run(aws, *base)
    assert code == 0, output
    assert "updated  table eventfold-events" in output
    events = aws.client("dynamodb").describe_table(TableName="eventfold-events")["Table"]
    assert events["StreamSpecification"]["StreamEnabled"]


def test_an_unknown_billing_mode_is_one_line_usage_error(aws: MotoAws) -> None:
    code, output = run(aws, "--billing-mode", "free", "--endpoint-url", aws.endpoint_url)
    assert code == 2
    assert "free" in output
    assert table_names(aws) == []


def test_an_unreachable_endpoint_is_one_line(aws: MotoAws) -> None:
    code, output = run(aws, "--endpoint-url", "http://127.0.0.1:9", "--region", aws.region)
    assert code == 1
    assert output.startswith("error: ")
    assert len(output.strip().splitlines()) == 1


def test_kinesis_retention_is_set_and_changed_on_a_second_run(aws: MotoAws) -> None:
    base = ["--feed", "kinesis", "--endpoint-url", aws.endpoint_url, "--region", aws.region]
    for hours in ("72", "30"):
        code, output = run(aws, *base, "--retention-hours", hours)
        assert code == 0, output
        summary = aws.client("kinesis").describe_stream_summary(StreamName="eventfold-events")
        assert summary["StreamDescriptionSummary"]["RetentionPeriodHours"] == int(hours)


def test_a_retention_kinesis_does_not_allow_is_refused(aws: MotoAws) -> None:
    code, output = run(aws, "--feed", "kinesis", "--retention-hours", "12")
    assert code == 2, output
    assert "--retention-hours" in output
