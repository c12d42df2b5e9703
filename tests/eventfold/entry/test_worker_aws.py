"""The router's parts chosen by settings on AWS: EVENTFOLD_FEED=streams|kinesis|sqs, the
router state in the DynamoDB checkpoints table, and the feed's head (where `eventfold
tail` starts). moto in server mode; nothing patched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventfold import ConfigurationError, SqliteEventStore
from eventfold.adapters.aws.clients import dynamodb_client, kinesis_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.kinesis_feed import KinesisFeed
from eventfold.adapters.aws.router_state import DynamoDBRouterState
from eventfold.adapters.aws.sqs_feed import SqsFeed
from eventfold.adapters.aws.streams_feed import DynamoDBStreamsFeed
from eventfold.adapters.aws.tables import FeedKind, create_tables
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.ports import EventStore
from eventfold.core.router.ports import BEGINNING
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.entry.composition import router_parts
from eventfold.entry.service import Service
from eventfold.entry.settings import Settings, load_settings, open_store
from eventfold.entry.worker import HeadOfFeed, RouterParts
from tests.aws_support.moto_server import MotoAws
from tests.contracts.event_store import event, write
from tests.eventfold.adapters.aws.messaging_support import create_queue
from tests.eventfold.entry.router_probe import probe_service

PREFIX = "w-"


def aws_environ(aws: MotoAws, **more: str) -> dict[str, str]:
    return {
        "EVENTFOLD_STORE": "dynamodb",
        "EVENTFOLD_TABLE_PREFIX": PREFIX,
        "EVENTFOLD_AWS_REGION": aws.region,
        "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
        "EVENTFOLD_FEED_POLL_INTERVAL": "0.05",
        **more,
    }


def tables(aws: MotoAws, feed: FeedKind = "streams") -> None:
    kinesis = kinesis_client(region=aws.region, endpoint_url=aws.endpoint_url)
    create_tables(
        dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url),
        TableNames(PREFIX),
        feed=feed,
        kinesis=kinesis if feed == "kinesis" else None,
    )


Build = Callable[[dict[str, str]], tuple[EventStore, RouterParts]]


@pytest.fixture
def parts_for() -> Iterator[Build]:
    """Opens the store and the router parts of an environment; closes them after."""
    with ExitStack() as stack:

        def build(environ: dict[str, str]) -> tuple[EventStore, RouterParts]:
            settings = load_settings(environ)
            store = stack.enter_context(open_store(settings))
            parts = router_parts(settings, store)
            stack.callback(parts.close)
            return store, parts

        yield build


@pytest.mark.aws
def test_the_dynamodb_store_routes_from_its_stream_with_state_in_the_checkpoints_table(
    aws: MotoAws, parts_for: Build
) -> None:
    tables(aws)
    store, parts = parts_for(aws_environ(aws))
    assert isinstance(parts.checkpoints, DynamoDBRouterState)
    assert parts.checkpoints.table == f"{PREFIX}checkpoints"
    assert parts.versions is parts.checkpoints
    assert parts.parking is parts.checkpoints
    assert isinstance(parts.feed, HeadOfFeed)
    assert isinstance(parts.feed.feed, DynamoDBStreamsFeed)
    assert parts.poll_timeout >= parts.feed.feed.poll_interval

    store.append(write("order-1", 0, event(1), event(2)))
    head = parts.feed.head()
    assert [e.key for e in parts.feed.poll(BEGINNING, timeout=0).events] == [
        "order-1:1",
        "order-1:2",
    ]
    store.append(write("order-1", 2, event(3)))
    assert [e.key for e in parts.feed.poll(head, timeout=0).events] == ["order-1:3"]


@pytest.mark.aws
def test_kinesis_reads_the_prefixed_stream_of_the_events_table(
    aws: MotoAws, parts_for: Build
) -> None:
    tables(aws, feed="kinesis")
    _, parts = parts_for(aws_environ(aws, EVENTFOLD_FEED="kinesis"))
    assert isinstance(parts.feed, HeadOfFeed)
    kinesis = parts.feed.feed
    assert isinstance(kinesis, KinesisFeed)
    assert (kinesis.stream, kinesis.events_table) == (f"{PREFIX}events", f"{PREFIX}events")
    assert parts.feed.head() == BEGINNING  # an empty stream
    assert isinstance(parts.checkpoints, DynamoDBRouterState)


@pytest.mark.aws
def test_an_sqs_feed_beside_either_store_and_its_head_is_the_beginning(
    aws: MotoAws, parts_for: Build, tmp_path: Path
) -> None:
    tables(aws)
    url = create_queue(aws.client("sqs"), "partner")
    queue = {"EVENTFOLD_FEED": "sqs", "EVENTFOLD_SQS_QUEUE_URL": url}
    _, parts = parts_for(aws_environ(aws, **queue))
    assert isinstance(parts.feed, HeadOfFeed)
    assert isinstance(parts.feed.feed, SqsFeed)
    assert isinstance(parts.checkpoints, DynamoDBRouterState)
    assert parts.feed.head() == BEGINNING
    store, embedded = parts_for(
        {
            "EVENTFOLD_HOME": str(tmp_path),
            **queue,
            "EVENTFOLD_AWS_REGION": aws.region,
            "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
        }
    )
    assert isinstance(store, SqliteEventStore)
    assert isinstance(embedded.checkpoints, SqliteRouterState)
    assert isinstance(embedded.feed, HeadOfFeed)
    assert isinstance(embedded.feed.feed, SqsFeed)


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"EVENTFOLD_STORE": "dynamodb", "EVENTFOLD_FEED": "sqlite"}, "EVENTFOLD_FEED=sqlite"),
        ({"EVENTFOLD_FEED": "streams"}, "EVENTFOLD_STORE=dynamodb"),
        ({"EVENTFOLD_FEED": "Kinesis"}, "EVENTFOLD_FEED=kinesis"),
        ({"EVENTFOLD_FEED": "sqs"}, "EVENTFOLD_SQS_QUEUE_URL"),
        ({"EVENTFOLD_FEED": "kafka"}, "EVENTFOLD_FEED='kafka'"),
        ({"EVENTFOLD_FEED_POLL_INTERVAL": "0"}, "EVENTFOLD_FEED_POLL_INTERVAL"),
        ({"EVENTFOLD_FEED": "sqs", "EVENTFOLD_SQS_QUEUE_URL": "queue"}, "EVENTFOLD_SQS_QUEUE_URL"),
    ],
)
def test_a_feed_that_cannot_serve_the_store_is_refused_with_the_fix(
    environ: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says.replace("'", ".")) as refused:
        load_settings(environ)
    assert "set " in str(refused.value)


def test_the_default_feed_is_the_stores_own() -> None:
    assert load_settings({}).router_feed == "sqlite"
    dynamodb = load_settings({"EVENTFOLD_STORE": "dynamodb", "EVENTFOLD_TABLE_PREFIX": "p-"})
    assert (dynamodb.router_feed, dynamodb.kinesis_stream_name) == ("streams", "p-events")
    assert isinstance(dynamodb, Settings)


@pytest.mark.aws
def test_operators_commands_work_on_the_dynamodb_stack(aws: MotoAws, tmp_path: Path) -> None:
    tables(aws)
    environ = aws_environ(aws, EVENTFOLD_HOME=str(tmp_path))
    with open_store(load_settings(environ)) as store:
        store.append(write("probe-1", 0, event(1), event(2)))

    def services(_: object) -> list[Service]:
        return [probe_service(tmp_path)]

    def invoke(*args: str) -> str:
        context = CliContext(environ=environ, load_services=services)
        result = CliRunner().invoke(app, list(args), obj=context, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "probe-rows" in invoke("subscriptions")
    printed = invoke("tail", "--from-start", "--no-follow")
    assert [line.count('"probe-1"') for line in printed.splitlines()] == [1, 1]
    assert invoke("tail", "--no-follow") == ""  # from the head: nothing new yet
    assert "rebuilt probe-rows: 2 events read, 2 applied" in invoke("rebuild", "probe-rows")
