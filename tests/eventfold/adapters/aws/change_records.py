"""Builds change records of the events table the way AWS delivers them, for tests.

moto has no DynamoDB -> Kinesis streaming destination, so tests write the documented
Kinesis-for-DynamoDB record format to a moto Kinesis stream themselves, and build Lambda
events (DynamoDB Streams, Kinesis, SQS) as the AWS documentation shows them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from eventfold.adapters.aws.dynamodb_items import event_item
from eventfold.domain.events import EventData, RecordedEvent

REGION = "us-east-1"
ACCOUNT = "123456789012"


def image_json(event: RecordedEvent) -> dict[str, Any]:
    """The event item in DynamoDB JSON (binary values base64), as change records carry it."""
    data = EventData(event.type, event.data, event.schema, dict(event.metadata))
    item = event_item(event.stream_id, event.version, data, event.recorded_at.isoformat())
    return _json_values(item)


def _json_values(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        ((kind, inner),) = value.items()
        if kind == "B":
            out[name] = {"B": base64.b64encode(inner).decode()}
        elif kind == "M":
            out[name] = {"M": _json_values(inner)}
        else:
            out[name] = {kind: inner}
    return out


def kinesis_change(
    event: RecordedEvent, table: str = "eventfold-events", event_name: str = "INSERT"
) -> dict[str, Any]:
    """A Kinesis Data Streams for DynamoDB record (the JSON the Kinesis record's data holds)."""
    image = image_json(event)
    return {
        "awsRegion": REGION,
        "eventID": f"{event.key}-id",
        "eventName": event_name,
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": {
            "ApproximateCreationDateTime": int(event.recorded_at.timestamp() * 1_000_000),
            "ApproximateCreationDateTimePrecision": "MICROSECOND",
            "Keys": {"stream_id": image["stream_id"], "version": image["version"]},
            "NewImage": image,
            "SizeBytes": 100,
        },
        "eventSource": "aws:dynamodb",
    }


def kinesis_data(change: Mapping[str, Any]) -> bytes:
    return json.dumps(change).encode()


def put_changes(
    kinesis: Any, stream: str, changes: Sequence[Mapping[str, Any]], *, by: str = "stream"
) -> None:
    """Put change records one by one; ``by`` "stream" keys shards by stream id (in order per
    stream), "event" by stream:version (a stream's events spread over the shards)."""
    for change in changes:
        keys = change["dynamodb"]["Keys"]
        key = keys["stream_id"]["S"]
        if by == "event":
            key += ":" + keys["version"]["N"]
        kinesis.put_record(StreamName=stream, Data=kinesis_data(change), PartitionKey=key)


# -- Lambda events (documented shapes) -----------------------------------------------------
def dynamodb_stream_event(
    events: Sequence[RecordedEvent], table: str = "eventfold-events", first_sequence: int = 100
) -> dict[str, Any]:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/2026-01-01T00:00:00.000"
    records = []
    for offset, event in enumerate(events):
        image = image_json(event)
        records.append(
            {
                "eventID": f"id-{offset}",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": int(event.recorded_at.timestamp()),
                    "Keys": {"stream_id": image["stream_id"], "version": image["version"]},
                    "NewImage": image,
                    "SequenceNumber": str(first_sequence + offset).rjust(21, "0"),
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": arn,
            }
        )
    return {"Records": records}


def kinesis_event(
    changes: Sequence[Mapping[str, Any]], stream: str = "eventfold-events", first: int = 100
) -> dict[str, Any]:
    arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"
    records = []
    for offset, change in enumerate(changes):
        sequence = str(first + offset).rjust(56, "4")
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": change["dynamodb"]["Keys"]["stream_id"]["S"],
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(kinesis_data(change)).decode(),
                    "approximateArrivalTimestamp": 1_767_225_600.123,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/router",
                "awsRegion": REGION,
                "eventSourceARN": arn,
            }
        )
    return {"Records": records}
