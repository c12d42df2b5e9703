"""The DynamoDB store against moto in server mode: the shared contract, then what only
DynamoDB has (limits, cancellation reasons, pagination, the reserved command-id keys)."""

from __future__ import annotations

from typing import Any

import pytest

from eventfold import (
    CommandHandler,
    ConcurrencyConflict,
    ConfigurationError,
    EventData,
    IdempotencyKeyReused,
    Origin,
    StoreError,
    StoreLimitExceeded,
)
from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.adapters.aws.tables import create_tables
from tests.aws_support.moto_server import MotoAws
from tests.contracts.event_store import EventStoreContract, event, write
from tests.eventfold.domain.counter import Add, counter
from tests.eventfold.domain.counter import codec as counter_codec

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


# -- what only the DynamoDB store has ------------------------------------------------------
class Calls:
    """Counts the store's DynamoDB calls and keeps their parameters, through botocore's
    public event hooks (no patching)."""

    def __init__(self, store: DynamoDBEventStore) -> None:
        self.params: list[tuple[str, dict[str, Any]]] = []
        store.client.meta.events.register("provide-client-params.dynamodb.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.params.append((model.name, dict(params)))

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [p for name, p in self.params if name == operation]


@pytest.fixture
def store(aws: MotoAws) -> DynamoDBEventStore:
    return make_store(aws)


pytestmark = pytest.mark.aws


def test_one_transaction_per_append_with_the_documented_conditions(
    store: DynamoDBEventStore,
) -> None:
    calls = Calls(store)
    store.append(write("order-1", 0, event(1), event(2)), command_id="c-1", fingerprint="f")
    store.append(write("order-1", 2, event(3)))
    first, second = calls.named("TransactWriteItems")
    assert len(calls.named("TransactWriteItems")) == 2
    conditions = [next(iter(a.values()))["ConditionExpression"] for a in first["TransactItems"]]
    assert conditions == [
        "attribute_not_exists(stream_id)",
        "attribute_not_exists(#v)",
        "attribute_not_exists(#v)",
        "attribute_not_exists(stream_id)",
    ]
    state_put = second["TransactItems"][0]["Put"]
    assert state_put["ConditionExpression"] == "#v = :expected"
    assert state_put["ExpressionAttributeValues"] == {":expected": {"N": "2"}}
    assert first["ClientRequestToken"] != second["ClientRequestToken"]


def test_items_have_the_seeds_layout(store: DynamoDBEventStore, aws: MotoAws) -> None:
    store.append(write("order-1", 0, event(1), state=b"s1"), command_id="c-1", fingerprint="f")
    client = aws.client("dynamodb")
    state = client.get_item(TableName=TABLES.state, Key={"stream_id": {"S": "order-1"}})["Item"]
    assert state == {
        "stream_id": {"S": "order-1"},
        "version": {"N": "1"},
        "state": {"B": b"s1"},
        "fold": {"S": "test/1"},
    }
    key = {"stream_id": {"S": "order-1"}, "version": {"N": "1"}}
    item = client.get_item(TableName=TABLES.events, Key=key)["Item"]
    assert set(item) == {
        "stream_id",
        "version",
        "type",
        "schema",
        "data",
        "metadata",
        "recorded_at",
    }
    assert item["metadata"] == {"M": {"n": {"S": "1"}}}
    command = client.get_item(TableName=TABLES.state, Key={"stream_id": {"S": "#command#c-1"}})
    assert command["Item"]["versions"] == {"M": {"order-1": {"N": "1"}}}


def test_a_retried_command_whose_stream_moved_on_is_still_a_duplicate(
    store: DynamoDBEventStore,
) -> None:
    store.append(write("order-1", 0, event(1)), command_id="c-1", fingerprint="f")
    store.append(write("order-1", 1, event(2)))
    again = store.append(write("order-1", 0, event(1)), command_id="c-1", fingerprint="f")
    assert again.duplicate
    assert again.versions == {"order-1": 1}
    reused = store.append(write("order-1", 0, event(1)), command_id="c-1", fingerprint="other")
    assert reused.duplicate
    assert reused.fingerprint == "f"  # the handler compares it with "other" and refuses


def test_a_conflict_names_the_stream_that_moved_among_several(store: DynamoDBEventStore) -> None:
    store.append(write("a-1", 0, event(1)), write("b-1", 0, event(1)))
    store.append(write("b-1", 1, event(2)))
    with pytest.raises(ConcurrencyConflict) as caught:
        store.append(write("a-1", 1, event(2)), write("b-1", 1, event(3)), command_id="c-9")
    assert (caught.value.stream_id, caught.value.expected, caught.value.actual) == ("b-1", 1, 2)
    assert store.find_commit("c-9") is None
    assert [e.version for e in store.read("a-1")] == [1]


def test_an_event_item_without_its_state_is_reported_not_retried(
    store: DynamoDBEventStore, aws: MotoAws
) -> None:
    store.append(write("order-1", 0, event(1)))
    stray = {"stream_id": {"S": "order-1"}, "version": {"N": "2"}, "type": {"S": "Stray"}}
    aws.client("dynamodb").put_item(TableName=TABLES.events, Item=stray)
    with pytest.raises(StoreError, match="tables disagree"):
        store.append(write("order-1", 1, event(2)))


def test_too_many_events_for_one_transaction_write_nothing(store: DynamoDBEventStore) -> None:
    calls = Calls(store)
    with pytest.raises(StoreLimitExceeded, match="101 DynamoDB write actions"):
        store.append(write("order-1", 0, *[event(n) for n in range(1, 100)]), command_id="c")
    assert calls.named("TransactWriteItems") == []
    assert store.load("order-1") is None
    store.append(write("order-1", 0, *[event(n) for n in range(1, 99)]), command_id="c")
    assert len(store.read("order-1")) == 98


def test_an_oversized_event_or_state_is_refused_before_the_call(store: DynamoDBEventStore) -> None:
    huge = EventData("Huge", b"x" * 409_600)
    with pytest.raises(StoreLimitExceeded, match=r"event order-1:1 \(Huge\) is \d+ bytes"):
        store.append(write("order-1", 0, huge))
    with pytest.raises(StoreLimitExceeded, match="the state of stream 'order-1'"):
        store.append(write("order-1", 0, event(1), state=b"s" * 410_000))
    assert store.load("order-1") is None


def test_reads_paginate_and_are_consistent(aws: MotoAws) -> None:
    store = make_store(aws, page_size=2)
    store.append(write("order-1", 0, *[event(n) for n in range(1, 8)]))
    calls = Calls(store)
    assert [e.version for e in store.read("order-1")] == [1, 2, 3, 4, 5, 6, 7]
    assert len(calls.named("Query")) == 4
    assert [e.version for e in store.read("order-1", after_version=1, limit=3)] == [2, 3, 4]
    assert [q.get("Limit") for q in calls.named("Query")[4:]] == [2, 1]
    store.load("order-1")
    store.find_commit("c-1")
    assert list(store.scan())
    reads = calls.named("Query") + calls.named("GetItem") + calls.named("Scan")
    assert all(params["ConsistentRead"] for params in reads)


def test_scan_runs_segments_in_parallel_and_can_stop_early(aws: MotoAws) -> None:
    store = make_store(aws, page_size=1, scan_segments=4)
    for n in range(1, 7):
        store.append(write(f"order-{n}", 0, event(1), event(2)))
    calls = Calls(store)
    seen = sorted(e.key for e in store.scan())
    assert seen == sorted(f"order-{n}:{v}" for n in range(1, 7) for v in (1, 2))
    assert sorted({p["Segment"] for p in calls.named("Scan")}) == [0, 1, 2, 3]
    assert {p["TotalSegments"] for p in calls.named("Scan")} == {4}
    events = store.scan()
    next(events)
    events.close()  # the segment threads stop instead of blocking on a full queue


@pytest.mark.parametrize("stream_id", ["#command#c-1", "", "#x"])
def test_reserved_stream_ids_are_refused(store: DynamoDBEventStore, stream_id: str) -> None:
    with pytest.raises(ValueError, match="reserves"):
        store.append(write(stream_id, 0, event(1)))
    with pytest.raises(ValueError, match="reserves"):
        store.load(stream_id)


def test_one_stream_twice_in_an_append_is_refused(store: DynamoDBEventStore) -> None:
    with pytest.raises(ValueError, match="twice"):
        store.append(write("order-1", 0, event(1)), write("order-1", 1, event(2)))


def test_missing_tables_are_a_configuration_error(aws: MotoAws) -> None:
    client = dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url)
    store = DynamoDBEventStore(client, TableNames("nothing-"))
    with pytest.raises(ConfigurationError, match="eventfold aws create-tables"):
        store.verify()
    with pytest.raises(ConfigurationError, match="eventfold aws create-tables"):
        store.load("order-1")


def test_a_reused_key_is_refused_by_the_handler_on_dynamodb(store: DynamoDBEventStore) -> None:
    # The same comparison as on SQLite, made once in the handler: the store returns the
    # earlier commit with its fingerprint.
    handler = CommandHandler(store, counter_codec)

    def asking(n: int) -> Origin:
        return Origin(command_id="client:k", request_digest=f"add {n}", idempotency_key="k")

    first = handler.execute(counter, "counter-1", Add(1), asking(1))
    again = handler.execute(counter, "counter-1", Add(1), asking(1)).commit
    assert again.duplicate
    assert again.versions == first.commit.versions
    with pytest.raises(IdempotencyKeyReused, match="'k'"):
        handler.execute(counter, "counter-1", Add(2), asking(2))
    assert [e.version for e in store.read("counter-1")] == [1]
