"""``eventfold aws ...``: set up what eventfold needs in an AWS account.

The work is done by :func:`eventfold.adapters.aws.tables.create_tables`; this module only
reads options (falling back to the settings: EVENTFOLD_TABLE_PREFIX, EVENTFOLD_AWS_REGION,
EVENTFOLD_AWS_ENDPOINT_URL) and prints one line per resource.
"""

from __future__ import annotations

import subprocess
from enum import StrEnum
from pathlib import Path

import typer

from eventfold.entry.cli.common import cli_context, fail

app = typer.Typer(
    name="aws",
    help="Set up eventfold's AWS resources (DynamoDB tables, Kinesis stream); build the "
    "Lambda artifact.",
    no_args_is_help=True,
)


class BillingModeOption(StrEnum):
    PAY_PER_REQUEST = "PAY_PER_REQUEST"
    PROVISIONED = "PROVISIONED"


class FeedOption(StrEnum):
    streams = "streams"
    kinesis = "kinesis"


@app.command("create-tables")
def create_tables_command(
    ctx: typer.Context,
    prefix: str | None = typer.Option(
        None, "--prefix", help="Table name prefix [default: EVENTFOLD_TABLE_PREFIX]."
    ),
    billing_mode: BillingModeOption = typer.Option(
        BillingModeOption.PAY_PER_REQUEST, "--billing-mode", case_sensitive=False
    ),
    read_capacity: int = typer.Option(5, min=1, help="Read units per table (PROVISIONED)."),
    write_capacity: int = typer.Option(5, min=1, help="Write units per table (PROVISIONED)."),
    feed: FeedOption = typer.Option(
        FeedOption.streams,
        "--feed",
        case_sensitive=False,
        help="streams: DynamoDB Streams (NEW_IMAGE) on the events table; kinesis: a "
        "Kinesis data stream to connect the table to.",
    ),
    kinesis_shards: int = typer.Option(1, min=1, help="Shards of the Kinesis stream."),
    retention_hours: int = typer.Option(
        168,
        "--retention-hours",
        min=24,
        max=8760,
        help="How long the Kinesis stream keeps records (24-8760; 168 = 7 days, longer than "
        "a partner outage over a long weekend; Kinesis' own default is 24).",
    ),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", help="An emulator's URL [default: EVENTFOLD_AWS_ENDPOINT_URL]."
    ),
    region: str | None = typer.Option(
        None, "--region", help="AWS region [default: EVENTFOLD_AWS_REGION, AWS_REGION]."
    ),
) -> None:
    """Create the state, events and checkpoints tables; safe to run again."""
    try:  # boto3 is the optional eventfold[aws] extra
        from eventfold.adapters.aws.clients import dynamodb_client, kinesis_client
        from eventfold.adapters.aws.dynamodb_items import TableNames
        from eventfold.adapters.aws.tables import Capacity, create_tables
    except ImportError as exc:
        fail(f"the AWS commands need boto3 ({exc}): pip install 'eventfold[aws]'")

    settings = cli_context(ctx).settings()
    prefix = settings.table_prefix if prefix is None else prefix
    endpoint_url = endpoint_url or settings.aws_endpoint_url
    region = region or settings.aws_region
    resources = create_tables(
        dynamodb_client(region=region, endpoint_url=endpoint_url),
        TableNames(prefix),
        billing_mode=billing_mode.value,
        capacity=Capacity(read_capacity, write_capacity),
        feed=feed.value,
        kinesis=(
            kinesis_client(region=region, endpoint_url=endpoint_url)
            if feed is FeedOption.kinesis
            else None
        ),
        kinesis_shards=kinesis_shards,
        kinesis_retention_hours=retention_hours,
    )
    for resource in resources:
        typer.echo(f"{resource.status:<8} {resource.kind} {resource.name}")
        if resource.note:
            typer.echo(f"         {resource.note}")


class ArchitectureOption(StrEnum):
    arm64 = "arm64"
    x86_64 = "x86_64"


@app.command("package")
def package_command(
    architecture: ArchitectureOption = typer.Option(
        ArchitectureOption.arm64,
        "--architecture",
        case_sensitive=False,
        help="The functions' architecture (the template's Architecture parameter).",
    ),
    output: Path = typer.Option(
        Path("dist/aws/lambda.zip"), "--output", help="Where to write the artifact."
    ),
    source: Path = typer.Option(
        Path("."), "--source", help="The project to package (its pyproject.toml's folder)."
    ),
    constraints: Path | None = typer.Option(
        None, "--constraint", help="A pip constraints file pinning the dependencies."
    ),
) -> None:
    """Build the Lambda artifact (eventfold, the services, their dependencies) as one zip
    with sorted entries and fixed timestamps."""
    from eventfold.entry.lambda_package import PackageRequest, build_package

    if not (source / "pyproject.toml").is_file():
        fail(f"{source} has no pyproject.toml: pass --source with the project's folder")
    if constraints is not None and not constraints.is_file():
        fail(f"no constraints file {constraints}: pass an existing --constraint file")
    request = PackageRequest(source, output, architecture.value, constraints=constraints)
    try:
        built = build_package(request)
    except subprocess.CalledProcessError as failed:
        fail(
            f"pip failed ({failed.returncode}): see its output above; it needs PyPI (or a "
            "--constraint naming versions with wheels for this platform)"
        )
    typer.echo(f"wrote {built} ({built.stat().st_size} bytes, {architecture.value})")
