"""deploy/aws/template.yaml as a CloudFormation stack on moto: translated by
aws-sam-translator (what ``sam deploy`` has CloudFormation do), created through moto's
CloudFormation API, read back through its outputs and the resources it made.

moto creates the tables, the Kinesis stream, the IAM roles with their policies, the Lambda
functions (code from a tiny zip in moto's S3: moto never runs them here), the EventBridge
rule, the queues and the log groups. It skips, with a warning, what it cannot create: the
HTTP API (API Gateway v2) and the CloudWatch alarms. The event source mappings are left out
of the stack on purpose (:data:`LEFT_OUT`): moto would invoke the function inside every
write to the events table (in docker, after serialising the record, which fails on binary
attributes) and drop the records from the stream. The test plays the mapping's part and
checks its settings in the translated template. docs/aws.md lists all of this.
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

from tests.aws_support.moto_server import MotoAws

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "template.yaml"
LEFT_OUT = ("AWS::Lambda::EventSourceMapping",)


def translated(template: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """The SAM template as plain CloudFormation, for these parameter values."""
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))

    def no_managed_policies() -> dict[str, str]:
        raise AssertionError("the template's roles name no managed policy")

    plain: dict[str, Any] = translator.translate(
        template, parameter_values=dict(parameters), get_managed_policy_map=no_managed_policies
    )
    return plain


@dataclass
class Stack:
    """A created stack: its outputs and its resources' physical ids by logical id."""

    outputs: dict[str, str]
    resources: dict[str, str]
    skipped: list[str]
    """Resource types of the template that moto did not create."""
    left_out: dict[str, dict[str, Any]]
    """The translated resources kept from moto (:data:`LEFT_OUT`), by logical id."""


def sam_template(code_bucket: str, code_key: str) -> dict[str, Any]:
    """The template, its functions' code taken from S3 (sam deploy's upload)."""
    template: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    template["Globals"]["Function"]["CodeUri"] = {"Bucket": code_bucket, "Key": code_key}
    return template


def network(aws: MotoAws) -> tuple[str, str]:
    """A subnet and a security group for the functions' VpcConfig."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="query", Description="query", VpcId=vpc)
    return str(subnet), str(group["GroupId"])


def deploy(aws: MotoAws, name: str, parameters: dict[str, str]) -> Stack:
    """Upload a stand-in artifact, translate the template and create the stack."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="artifacts")
    artifact = io.BytesIO()
    with zipfile.ZipFile(artifact, "w") as archive:
        archive.writestr("handler.py", "")  # moto stores the code; nothing runs it
    s3.put_object(Bucket="artifacts", Key="lambda.zip", Body=artifact.getvalue())
    template = translated(sam_template("artifacts", "lambda.zip"), parameters, aws.region)
    left_out = {
        logical_id: template["Resources"].pop(logical_id)
        for logical_id, resource in list(template["Resources"].items())
        if resource["Type"] in LEFT_OUT
    }
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (described,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
    skipped = sorted(
        {
            resource["Type"]
            for logical_id, resource in template["Resources"].items()
            if logical_id not in resources and resource.get("Condition") is None
        }
    )
    return Stack(outputs, resources, skipped, left_out)


def role_policies(aws: MotoAws, role_name: str) -> dict[str, dict[str, Any]]:
    """The role's inline policies by name, as the stack resolved them."""
    iam = aws.client("iam")
    documents = {}
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        if isinstance(document, str):  # moto 5 hands back the repr of the dict it stored
            document = ast.literal_eval(document)
        documents[policy] = document
    return documents
