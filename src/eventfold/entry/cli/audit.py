"""``eventfold audit PROJECTION [--heal] [--json]``: the streams a subscription is behind on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from eventfold.core.router.audit import StreamBehind, audit, heal
from eventfold.entry.cli.common import fail, flag
from eventfold.entry.cli.ops import operations
from eventfold.entry.telemetry import Telemetry


def behind_record(item: StreamBehind) -> dict[str, object]:
    return {
        "subscription": item.subscription,
        "stream_id": item.stream_id,
        "stored_version": item.stored,
        "applied_version": item.applied,
        "behind": item.behind,
        "since": item.since.isoformat(),
        "parked": item.parked,
    }


def _age(since: datetime) -> str:
    seconds = max(0.0, (datetime.now(UTC) - since).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def audit_command(
    ctx: typer.Context,
    projection: str = typer.Argument(help="The subscription to compare with the event store."),
    heal_them: bool = flag(
        False, "--heal", help="Replay what is missing through the router (parked streams: redrive)."
    ),
    json_lines: bool = flag(
        False, "--json", help="One JSON object per stream behind and line, for scripts."
    ),
) -> None:
    """Compare each stream's version in the event store with the version PROJECTION has
    applied; list the streams behind (by how much, since when); --heal catches them up."""
    with operations(ctx, read_only=not heal_them) as ops:
        subscription = ops.subscription(projection)
        parts = ops.parts
        behind = audit(
            subscription, ops.context.store, versions=parts.versions, parking=parts.parking
        )
        if json_lines:
            for item in behind:
                typer.echo(json.dumps(behind_record(item)))
        elif not behind:
            typer.echo(f"{projection} is up to date with the event store")
        else:
            table = Table("stream", "store", "applied", "behind", "since", "parked")
            table.columns[0].no_wrap = True
            for item in behind:
                table.add_row(
                    item.stream_id,
                    str(item.stored),
                    str(item.applied),
                    str(item.behind),
                    f"{item.since.isoformat(timespec='seconds')} ({_age(item.since)} ago)",
                    "yes" if item.parked else "",
                )
            Console(soft_wrap=True).print(table)
        if not heal_them or not behind:
            return
        report = heal(ops.router(subscription, observer=Telemetry()), behind)
        parked = sum(1 for item in behind if item.parked)
        message = (
            f"healed {projection}: {report.applied} events applied, "
            f"{report.duplicates} already applied"
        )
        if parked:
            message += f"; {parked} parked streams left to `eventfold parked redrive`"
        if report.parked:
            streams = sorted({stream for stream, _ in report.parked})
            fail(f"{message}; {len(streams)} streams failed and parked: {', '.join(streams)}")
        typer.echo(message, err=json_lines)
