"""Shared by the Lambda and Step Functions tests: a function and state machines on moto,
and what the Lambda target sent.

moto's Lambda runs code in Docker; the tests switch that off (``use_docker: False``, moto's
"simple" backend: Invoke answers 202 without running anything) and read the invocations
off the wire with a botocore ``before-send`` hook on their own client: the request still
goes to moto, the hook only keeps a copy of what was sent.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from tests.aws_support.moto_server import MotoAws

ROLE = "arn:aws:iam::123456789012:role/consumer"
PASS_THROUGH = {
    "Comment": "hands its input on: moto runs it, so a test sees the input arrive",
    "StartAt": "Received",
    "States": {"Received": {"Type": "Pass", "End": True}},
}


def fresh_client(aws: MotoAws, service: str) -> Any:
    """A client of its own (hooks registered on it stay with this test)."""
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id=aws.access_key,
        aws_secret_access_key=aws.secret_key,
    )


def create_function(aws: MotoAws, name: str = "consumer") -> str:
    """A Python function on moto (never run: see the module doc); returns its ARN."""
    aws.configure({"lambda": {"use_docker": False}})
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return {}\n")
    created = aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
    )
    arn: str = created["FunctionArn"]
    return arn


@dataclass
class SentInvocations:
    """The Invoke requests a client sent: invocation type and JSON payload, in order."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, request: Any, **_: Any) -> None:
        invocation_type = request.headers.get("X-Amz-Invocation-Type", b"")
        if isinstance(invocation_type, bytes):
            invocation_type = invocation_type.decode()
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
            request.body.seek(0)
        self.requests.append((invocation_type, json.loads(body)))

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [payload for _, payload in self.requests]


def recording_lambda_client(aws: MotoAws) -> tuple[Any, SentInvocations]:
    client = fresh_client(aws, "lambda")
    sent = SentInvocations()
    client.meta.events.register("before-send.lambda.Invoke", sent.record)
    return client, sent


def create_state_machine(aws: MotoAws, definition: dict[str, Any], name: str = "saga") -> str:
    sfn = aws.client("stepfunctions")
    created = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/states",
        type="STANDARD",
    )
    arn: str = created["stateMachineArn"]
    return arn


def executions(aws: MotoAws, state_machine_arn: str) -> list[dict[str, Any]]:
    """Every execution of the state machine, each with its input (DescribeExecution)."""
    sfn = aws.client("stepfunctions")
    found = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        for listed in page["executions"]:
            found.append(sfn.describe_execution(executionArn=listed["executionArn"]))
    return found


def started_by_stream(aws: MotoAws, state_machine_arn: str) -> dict[str, list[int]]:
    """Per stream, the versions whose execution exists (ascending), from the inputs (an
    execution whose input is no event envelope is not counted)."""
    streams: dict[str, list[int]] = {}
    for execution in executions(aws, state_machine_arn):
        envelope = json.loads(execution["input"])
        if "stream_id" not in envelope:
            continue
        streams.setdefault(envelope["stream_id"], []).append(envelope["version"])
    return {stream: sorted(versions) for stream, versions in streams.items()}
