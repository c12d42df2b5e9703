"""EVENTFOLD_STORE=dynamodb: the store factory's DynamoDB branch, against moto."""

from __future__ import annotations

import pytest

from eventfold import ConfigurationError
from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.adapters.aws.tables import create_tables
from eventfold.entry.settings import load_settings, open_store
from tests.aws_support.moto_server import MotoAws
from tests.contracts.event_store import event, write


def dynamodb_environ(aws: MotoAws, prefix: str = "app-") -> dict[str, str]:
    return {
        "EVENTFOLD_STORE": "DynamoDB",
        "EVENTFOLD_TABLE_PREFIX": prefix,
        "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
        "EVENTFOLD_AWS_REGION": aws.region,
    }


@pytest.mark.aws
def test_the_dynamodb_store_uses_the_prefix_endpoint_and_region(aws: MotoAws) -> None:
    create_tables(
        dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url), TableNames("app-")
    )
    with open_store(load_settings(dynamodb_environ(aws))) as store:
        assert isinstance(store, DynamoDBEventStore)
        store.append(write("order-1", 0, event(1)))
    key = {"stream_id": {"S": "order-1"}}
    assert "Item" in aws.client("dynamodb").get_item(TableName="app-state", Key=key)


@pytest.mark.aws
def test_missing_tables_fail_at_open_with_the_fix(aws: MotoAws) -> None:
    settings = load_settings(dynamodb_environ(aws, prefix="none-"))
    with (
        pytest.raises(ConfigurationError, match="eventfold aws create-tables"),
        open_store(settings),
    ):
        pass


@pytest.mark.parametrize(
    ("name", "value"),
    [("EVENTFOLD_TABLE_PREFIX", "bad prefix!"), ("EVENTFOLD_AWS_ENDPOINT_URL", "localhost:5000")],
)
def test_bad_aws_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings({name: value})
