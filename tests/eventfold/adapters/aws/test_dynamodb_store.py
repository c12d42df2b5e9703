"""The DynamoDB store against moto in server mode: the shared contract, then what only
DynamoDB has (limits, cancellation reasons, pagination, the reserved command-id keys)."""

from __future__ import annotations

import pytest

from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.adapters.aws.tables import create_tables
from tests.aws_support.moto_server import MotoAws
from tests.contracts.event_store import EventStoreContract

TABLES = TableNames("test-")


def make_store(aws: MotoAws, **options: object) -> DynamoDBEventStore:
    client = dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url)
    create_tables(client, TABLES)
    return DynamoDBEventStore(client, TABLES, **options)  # type: ignore[arg-type]


@pytest.mark.aws
class TestDynamoDBEventStore(EventStoreContract):
    @pytest.fixture
    def store(self, aws: MotoAws) -> DynamoDBEventStore:
        return make_store(aws)


@pytest.mark.aws
class TestDynamoDBEventStoreSmallPages(EventStoreContract):
    """The contract again with one item per Query/Scan page: every read paginates."""

    @pytest.fixture
    def store(self, aws: MotoAws) -> DynamoDBEventStore:
        return make_store(aws, page_size=1, scan_segments=3)
