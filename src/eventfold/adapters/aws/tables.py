"""Create the DynamoDB tables (and the Kinesis stream) eventfold needs; safe to run twice.

- ``<prefix>state``: pk ``stream_id`` — snapshots, optimistic lock, command ids.
- ``<prefix>events``: pk ``stream_id``, sk ``version`` — with DynamoDB Streams (NEW_IMAGE)
  when the feed is ``streams``.
- ``<prefix>checkpoints``: pk ``scope``, sk ``key`` — the router's state (checkpoints,
  applied versions, parked streams: :mod:`eventfold.adapters.aws.router_state`), so a
  restarted router resumes.
- feed ``kinesis``: a Kinesis data stream ``<prefix>events`` that keeps records
  ``kinesis_retention_hours`` (default 168, 7 days, not Kinesis' own 24: the seeds choose
  Kinesis for its longer retention, and a week outlasts a partner's outage over a long
  weekend plus the time to notice it; each hour past 24 is billed per shard). Connecting
  the table to it (``enable-kinesis-streaming-destination``) is printed, not done: it is a
  one-off, account-level decision and local emulators cannot do it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.errors import error_code, to_eventfold_error
from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kinesis import KinesisClient

BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]
FeedKind = Literal["streams", "kinesis"]
DEFAULT_KINESIS_RETENTION_HOURS = 168
KINESIS_RETENTION_RANGE = (24, 8760)
"""What Kinesis allows: one day to one year."""
Status = Literal["created", "exists", "updated"]


@dataclass(frozen=True, slots=True)
class Resource:
    """One thing create_tables looked after, and what it did."""

    kind: str  # "table" | "kinesis stream"
    name: str
    status: Status
    arn: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Capacity:
    """Provisioned read/write capacity units per table (PROVISIONED billing only)."""

    read: int = 5
    write: int = 5


def _key_schema(*keys: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "KeySchema": [{"AttributeName": name, "KeyType": role} for name, _, role in keys],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind, _ in keys
        ],
    }


def create_tables(
    dynamodb: DynamoDBClient,
    tables: TableNames,
    *,
    billing_mode: BillingMode = "PAY_PER_REQUEST",
    capacity: Capacity | None = None,
    feed: FeedKind = "streams",
    kinesis: KinesisClient | None = None,
    kinesis_shards: int = 1,
    kinesis_retention_hours: int = DEFAULT_KINESIS_RETENTION_HOURS,
) -> list[Resource]:
    """Create what is missing; report what already exists. Raises ConfigurationError for
    impossible options and eventfold errors (never botocore's) for AWS failures."""
    if billing_mode not in ("PAY_PER_REQUEST", "PROVISIONED"):
        raise ConfigurationError(
            f"billing mode {billing_mode!r} is not PAY_PER_REQUEST or PROVISIONED"
        )
    if feed not in ("streams", "kinesis"):
        raise ConfigurationError(f"feed {feed!r} is not streams or kinesis")
    if feed == "kinesis" and kinesis is None:
        raise ConfigurationError("feed kinesis needs a Kinesis client")
    low, high = KINESIS_RETENTION_RANGE
    if not low <= kinesis_retention_hours <= high:
        raise ConfigurationError(
            f"Kinesis retention of {kinesis_retention_hours} hours is outside {low}-{high}: "
            f"pass --retention-hours between {low} (one day) and {high} (one year)"
        )
    billing: dict[str, Any] = {"BillingMode": billing_mode}
    if billing_mode == "PROVISIONED":
        units = capacity or Capacity()
        billing["ProvisionedThroughput"] = {
            "ReadCapacityUnits": units.read,
            "WriteCapacityUnits": units.write,
        }
    streams = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    try:
        done = [
            _table(dynamodb, tables.state, _key_schema(("stream_id", "S", "HASH")), billing),
            _table(
                dynamodb,
                tables.events,
                _key_schema(("stream_id", "S", "HASH"), ("version", "N", "RANGE")),
                billing,
                streams if feed == "streams" else None,
            ),
            _table(
                dynamodb,
                tables.checkpoints,
                _key_schema(("scope", "S", "HASH"), ("key", "S", "RANGE")),
                billing,
            ),
        ]
        if feed == "kinesis" and kinesis is not None:
            done.append(
                _kinesis_stream(
                    kinesis, tables.events, kinesis_shards, kinesis_retention_hours, done[1].arn
                )
            )
    except (ClientError, BotoCoreError) as error:
        raise to_eventfold_error(error, "create-tables") from error
    return done


def _table(
    dynamodb: DynamoDBClient,
    name: str,
    schema: dict[str, Any],
    billing: dict[str, Any],
    streams: dict[str, Any] | None = None,
) -> Resource:
    request: dict[str, Any] = {"TableName": name, **schema, **billing}
    if streams is not None:
        request["StreamSpecification"] = streams
    try:
        created = dynamodb.create_table(**request)["TableDescription"]
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
        return _existing_table(dynamodb, name, streams)
    dynamodb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 60}
    )
    return Resource("table", name, "created", created.get("TableArn", ""), _stream_note(created))


def _existing_table(
    dynamodb: DynamoDBClient, name: str, streams: dict[str, Any] | None
) -> Resource:
    table = dynamodb.describe_table(TableName=name)["Table"]
    arn = table.get("TableArn", "")
    enabled = table.get("StreamSpecification", {}).get("StreamEnabled", False)
    if streams is None or enabled:
        return Resource("table", name, "exists", arn, _stream_note(table))
    updated = dynamodb.update_table(TableName=name, StreamSpecification=streams)  # type: ignore[arg-type]
    return Resource("table", name, "updated", arn, _stream_note(updated["TableDescription"]))


def _stream_note(table: Any) -> str:
    arn = table.get("LatestStreamArn")
    view = table.get("StreamSpecification", {}).get("StreamViewType", "")
    return f"stream {view} {arn}" if arn else ""


def _kinesis_stream(
    kinesis: KinesisClient, name: str, shards: int, retention_hours: int, table_arn: str
) -> Resource:
    status: Status = "created"
    try:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
        status = "exists"
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    arn = summary["StreamARN"]
    kept = summary["RetentionPeriodHours"]
    if kept < retention_hours:
        kinesis.increase_stream_retention_period(
            StreamName=name, RetentionPeriodHours=retention_hours
        )
    elif kept > retention_hours:
        kinesis.decrease_stream_retention_period(
            StreamName=name, RetentionPeriodHours=retention_hours
        )
    note = (
        "connect the table to it once: aws dynamodb enable-kinesis-streaming-destination "
        f"--table-name {table_arn.rsplit('/', 1)[-1] or name} --stream-arn {arn}"
    )
    note = f"keeps records {retention_hours} hours; {note}"
    return Resource("kinesis stream", name, status, arn, note)
