"""deploy/aws/template.yaml, deployed on moto and run: the SAM template translated to
CloudFormation (aws-sam-translator) and created as a stack on moto's server mode; each
function's container built from the environment the stack gave that function; the flow
HTTP -> DynamoDB -> the events table's stream -> router -> MySQL -> HTTP query, and the
jobs function's expiry sweep, on the resources the stack's outputs name.

Every AWS call each function's handlers make is recorded (botocore's event hooks on the
clients the handlers built) and compared with the ``handler`` policy of that function's
role as the stack created it: no call without a permission, no permission without a call.
With ``Feed=kinesis`` the stack makes the Kinesis stream with the retention asked for.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
from eventfold.entry.composition import LambdaEntryPoints, lambda_entry_points, service_context
from eventfold.entry.context_reads import migrate_query_model
from eventfold.entry.service import installed_services
from eventfold.entry.settings import load_settings
from reservations import app
from reservations.domain.reservation import HOLD_PERIOD, RequestReservation
from reservations.domain.stock import SetStockLevel
from reservations.published_language import PROTOBUF_CODEC
from tests.aws_support.aws_calls import AwsCalls, granted
from tests.aws_support.moto_server import MotoAws
from tests.aws_support.sam_stack import deploy, network, role_policies
from tests.eventfold.entry.aws_lambda.proxy_events import http_api_event
from tests.eventfold.entry.aws_lambda.test_router_handlers import LambdaContext

pytestmark = [pytest.mark.aws, pytest.mark.mysql]

SKIPPED_BY_MOTO = [
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
]
"""What moto's CloudFormation cannot create (docs/aws.md says how each is checked)."""

CLAIMS = {"sub": "c1", "role": "[customer staff]", "stores": "[s1]"}
"""What API Gateway's JWT authorizer hands the function after verifying the token."""


def as_lambda_json(value: Any) -> Any:
    """A boto3 stream record as Lambda's JSON event carries it (binaries in base64)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: as_lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_lambda_json(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


class EventsStream:
    """The event source mapping's part: the events table's stream records not yet handed
    to the router, as one DynamoDB Streams event."""

    def __init__(self, aws: MotoAws, arn: str) -> None:
        self.client = aws.client("dynamodbstreams")
        self.arn = arn
        self.seen: set[str] = set()

    def next_event(self) -> dict[str, Any]:
        records = []
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for record in self.client.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
                if record["dynamodb"]["SequenceNumber"] not in self.seen:
                    self.seen.add(record["dynamodb"]["SequenceNumber"])
                    records.append({**as_lambda_json(record), "eventSourceARN": self.arn})
        return {"Records": records}


class Gateway:
    """API Gateway's part: HTTP API events with the authorizer's claims."""

    def __init__(self, entry: LambdaEntryPoints) -> None:
        self.entry = entry

    def call(self, method: str, path: str, body: Any = None, query: str = "") -> Any:
        event = http_api_event(method, path, body=body, query=query)
        event["requestContext"]["authorizer"] = {"jwt": {"claims": CLAIMS, "scopes": None}}
        response = self.entry.http(event, LambdaContext())
        assert response["statusCode"] < 300, response
        return json.loads(response["body"])


@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto: SKIPPED_BY_MOTO
def test_the_stack_runs_the_flow_and_each_role_allows_exactly_what_its_function_calls(
    aws: MotoAws, mysql_url: str, tmp_path: Path
) -> None:
    secret = aws.client("secretsmanager").create_secret(
        Name="query", SecretString=json.dumps({"username": "root", "password": ""})
    )["ARN"]
    subnet, group = network(aws)
    stack = deploy(
        aws,
        "shop",
        {
            "TablePrefix": "shop-",
            "JwtIssuer": "https://issuer.example",
            "JwtAudience": "eventfold",
            "JwtJwksUrl": "https://issuer.example/.well-known/jwks.json",
            "QueryHost": "127.0.0.1",
            "QuerySecretArn": secret,
            "SubnetIds": subnet,
            "SecurityGroupIds": group,
        },
    )
    assert stack.skipped == SKIPPED_BY_MOTO
    functions = {kind: stack.outputs[f"{kind}FunctionName"] for kind in ("Http", "Router", "Jobs")}
    lambdas = aws.client("lambda")
    # the event source mapping as CloudFormation gets it (moto cannot run one: sam_stack.py)
    assert "RouterKinesisFunctionEvents" in stack.left_out  # Feed=kinesis: its condition
    mapping = stack.left_out["RouterStreamsFunctionEvents"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "RouterStreamsFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (-1, 21600)
    on_failure = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert on_failure == {"Fn::GetAtt": ["RouterFailureQueue", "Arn"]}

    def environ(function: str) -> dict[str, str]:
        """The environment the stack gave the function, pointed at moto and MariaDB (moto
        resolves no {{resolve:secretsmanager:…}} reference: CloudFormation does that)."""
        configuration = lambdas.get_function_configuration(FunctionName=function)
        variables: dict[str, str] = configuration["Environment"]["Variables"]
        assert "{{resolve:secretsmanager:" in variables["EVENTFOLD_QUERY_URL"]
        return {
            **variables,
            "EVENTFOLD_QUERY_URL": mysql_url,
            "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
            "EVENTFOLD_AWS_REGION": aws.region,
            "EVENTFOLD_HOME": str(tmp_path / function),
        }

    services = installed_services(["reservations"])
    # the deploy steps: eventfold migrate; and a reservation made 8 days ago (due to expire)
    past = datetime.now(UTC) - HOLD_PERIOD - timedelta(days=1)
    with service_context(load_settings(environ(functions["Http"]))) as context:
        migrate_query_model(services, context)
        handler = app.make_handler(context.store, PROTOBUF_CODEC)
        app.set_stock_level(handler, SetStockLevel("s1", "sku-1", 5, past))
        app.request_reservation(handler, RequestReservation("old", "c0", "s1", "sku-1", 1, past))

    tables = aws.client("dynamodb")
    table_arns: dict[str, str] = {}

    def table_arn(name: str) -> str:
        if name not in table_arns:
            table_arns[name] = tables.describe_table(TableName=name)["Table"]["TableArn"]
        return table_arns[name]

    containers: dict[str, LambdaEntryPoints] = {}
    calls: dict[str, AwsCalls] = {}
    for kind, function in functions.items():
        containers[kind] = lambda_entry_points(load_settings(environ(function)), services)
        store = containers[kind].context.store
        assert isinstance(store, DynamoDBEventStore)
        calls[kind] = AwsCalls(table_arn)
        calls[kind].watch(store.client)  # the router state's too: one client per container
        # the container's start checked the tables before a test could watch its client
        store.verify()

    api = Gateway(containers["Http"])
    stream = EventsStream(aws, stack.outputs["EventsStreamArn"])
    route = containers["Router"].router.dynamodb_stream
    assert route(stream.next_event(), LambdaContext()) == {"batchItemFailures": []}

    api.call("PUT", "/stores/s1/stock/sku-1", {"on_hand": 5})
    body = {"customer_id": "c1", "store_id": "s1", "sku": "sku-1", "quantity": 2}
    placed = api.call("POST", "/reservations", body)
    rid = placed["reservation_id"]
    secured = api.call("POST", f"/reservations/{rid}/secure")["version"]
    # the stream hands the router the reservation's second version before its first: the
    # router heals the gap from the events table, and the first comes later as a duplicate
    records = stream.next_event()["Records"]
    first = next(r for r in records if r["dynamodb"]["Keys"]["stream_id"]["S"].endswith(rid))
    later = {"Records": [r for r in records if r is not first]}
    assert route(later, LambdaContext()) == {"batchItemFailures": []}
    assert route({"Records": [first]}, LambdaContext()) == {"batchItemFailures": []}
    seen = api.call("GET", f"/reservations/{rid}", query=f"min_version={secured}")
    assert (seen["status"], seen["quantity"]) == ("secured", 2)

    assert containers["Jobs"].jobs({}, LambdaContext()) == {"ran": ["expire-due-reservations"]}
    assert route(stream.next_event(), LambdaContext()) == {"batchItemFailures": []}
    assert api.call("GET", "/reservations/old", query="min_version=2")["status"] == "expired"
    stock = api.call("GET", "/stores/s1/stock/sku-1")
    assert (stock["on_hand"], stock["held"]) == (5, 2)

    for kind, function in functions.items():
        role = lambdas.get_function_configuration(FunctionName=function)["Role"]
        policies = role_policies(aws, role.rsplit("/", 1)[1])
        assert sorted(policies) == ["handler", "platform"]
        platform = policies["platform"]["Statement"]
        assert all(s["Sid"].startswith("Platform") for s in platform)
        allowed = granted(policies)
        assert calls[kind].grants - allowed == set(), f"{kind}: calls without a permission"
        assert allowed - calls[kind].grants == set(), f"{kind}: permissions without a call"


@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto: SKIPPED_BY_MOTO
def test_the_kinesis_feed_makes_a_stream_with_the_retention_asked_for(aws: MotoAws) -> None:
    subnet, group = network(aws)
    stack = deploy(
        aws,
        "shop",
        {
            "TablePrefix": "shop-",
            "Feed": "kinesis",
            "KinesisShards": "2",
            "KinesisRetentionHours": "72",
            "JwtIssuer": "https://issuer.example",
            "JwtAudience": "eventfold",
            "JwtJwksUrl": "https://issuer.example/.well-known/jwks.json",
            "QueryHost": "127.0.0.1",
            "QuerySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:query",
            "SubnetIds": subnet,
            "SecurityGroupIds": group,
        },
    )
    summary = aws.client("kinesis").describe_stream_summary(StreamName="shop-events")
    described = summary["StreamDescriptionSummary"]
    assert described["StreamARN"] == stack.outputs["EventsKinesisStreamArn"]
    assert (described["RetentionPeriodHours"], described["OpenShardCount"]) == (72, 2)
    assert "EventsStreamArn" not in stack.outputs
    router = aws.client("lambda").get_function_configuration(
        FunctionName=stack.outputs["RouterFunctionName"]
    )
    assert router["Handler"] == "eventfold.entry.aws_lambda.functions.kinesis"
    assert router["Environment"]["Variables"]["EVENTFOLD_FEED"] == "kinesis"
    mapping = stack.left_out["RouterKinesisFunctionEvents"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["EventsKinesisStream", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
