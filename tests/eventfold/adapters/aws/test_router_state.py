"""The router's three ports in the DynamoDB checkpoints table, against moto."""

from __future__ import annotations

import pytest

from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.router_state import DynamoDBRouterState
from eventfold.adapters.aws.tables import create_tables
from tests.aws_support.moto_server import MotoAws
from tests.contracts.applied_versions import AppliedVersionsContract
from tests.contracts.checkpoints import CheckpointsContract
from tests.contracts.parking_lot import ParkingLotContract, recorded

TABLES = TableNames("router-")

pytestmark = pytest.mark.aws


@pytest.fixture
def router_state(aws: MotoAws) -> DynamoDBRouterState:
    client = dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url)
    create_tables(client, TABLES)
    return DynamoDBRouterState(client, TABLES)


class TestDynamoDBCheckpoints(CheckpointsContract):
    @pytest.fixture
    def checkpoints(self, router_state: DynamoDBRouterState) -> DynamoDBRouterState:
        return router_state


class TestDynamoDBAppliedVersions(AppliedVersionsContract):
    @pytest.fixture
    def versions(self, router_state: DynamoDBRouterState) -> DynamoDBRouterState:
        return router_state


class TestDynamoDBParkingLot(ParkingLotContract):
    @pytest.fixture
    def parking(self, router_state: DynamoDBRouterState) -> DynamoDBRouterState:
        return router_state


def test_subscriptions_lists_every_checkpoint(router_state: DynamoDBRouterState) -> None:
    router_state.advance("rows", "", "5")
    router_state.reset("mail", "2")
    assert router_state.subscriptions() == {"rows": "5", "mail": "2"}


def test_a_park_after_unpark_looked_keeps_the_stream_parked(
    router_state: DynamoDBRouterState,
) -> None:
    router_state.park("rows", "a-1", [recorded("a-1", 2)], "boom")
    assert router_state.unpark("rows", "a-1", 2)
    router_state.park("rows", "a-1", [recorded("a-1", 3)], "again")
    [parked] = router_state.list_parked("rows")
    assert (parked.reason, parked.first_version, parked.count) == ("again", 3, 1)


def test_names_with_separators_do_not_collide(router_state: DynamoDBRouterState) -> None:
    router_state.park("a#b", "c-1", [recorded("c-1", 1)], "x")
    router_state.park("a", "b#c-1", [recorded("b#c-1", 1)], "y")
    assert [e.stream_id for e in router_state.parked_events("a#b", "c-1")] == ["c-1"]
    assert [e.stream_id for e in router_state.parked_events("a", "b#c-1")] == ["b#c-1"]
