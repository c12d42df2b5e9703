"""``eventfold parked list | show | redrive | skip``: streams parked for a subscription.

``redrive`` and ``skip`` work on one stream (``SUBSCRIPTION STREAM``) or on a selection:
``--all``, ``--subscription S`` and/or ``--reason TEXT`` (the park reason contains TEXT,
case-insensitive). A parked stream whose subscription does not run with the current
settings (a partner webhook left out of EVENTFOLD_WEBHOOKS) is never touched: it stays
parked and the command says so and exits 1.
"""

from __future__ import annotations

import json
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from eventfold.core.router.ports import ParkedStream
from eventfold.entry.cli.common import fail, flag
from eventfold.entry.cli.ops import operations
from eventfold.entry.cli.streams import as_record, payload_json
from eventfold.entry.operations import Operations
from eventfold.entry.telemetry import Telemetry

app = typer.Typer(help="Streams parked for a subscription: list, show, redrive, skip.")

JSON_HELP = "One JSON object per line, for scripts."


def parked_record(parked: ParkedStream) -> dict[str, object]:
    return {
        "subscription": parked.subscription,
        "stream_id": parked.stream_id,
        "first_version": parked.first_version,
        "last_version": parked.last_version,
        "waiting": parked.count,
        "parked_at": parked.parked_at.isoformat(),
        "reason": parked.reason,  # redacted by Operations (reasons stored before were not)
    }


@app.command("list")
def parked_list(
    ctx: typer.Context,
    subscription: str = typer.Argument(None, help="Only this subscription's parked streams."),
    json_lines: bool = flag(False, "--json", help=JSON_HELP),
) -> None:
    """Every parked stream: subscription, stream, versions waiting, since when, why."""
    with operations(ctx, read_only=True) as ops:
        found = ops.parked(subscription)
        if json_lines:
            for parked in found:
                typer.echo(json.dumps(parked_record(parked)))
            return
        if not found:
            typer.echo("no parked streams")
            return
        table = Table("subscription", "stream", "versions", "waiting", "parked at", "reason")
        for column in table.columns[:3]:
            column.no_wrap = True  # ids are never cut: the reason folds instead
        table.columns[-1].overflow = "fold"
        for p in found:
            record = parked_record(p)
            table.add_row(
                p.subscription,
                p.stream_id,
                f"{p.first_version}..{p.last_version}",
                str(p.count),
                p.parked_at.isoformat(timespec="seconds"),
                str(record["reason"]),
            )
        Console(soft_wrap=True).print(table)


@app.command("show")
def parked_show(
    ctx: typer.Context,
    subscription: str = typer.Argument(help="The subscription."),
    stream: str = typer.Argument(help="The parked stream id."),
) -> None:
    """The reason and the waiting events of a parked stream (one JSON object per line)."""
    with operations(ctx, read_only=True) as ops:
        parked = ops.parked_stream(subscription, stream)
        typer.echo(f"{stream} parked for {subscription} since {parked.parked_at}: {parked.reason}")
        codecs = ops.codecs()
        for event in ops.parked_events(subscription, stream):
            typer.echo(json.dumps(as_record(event, payload_json(event, codecs))))


SUBSCRIPTION_ARG = typer.Argument(None, help="The subscription (with STREAM: one stream).")
STREAM_ARG = typer.Argument(None, help="The parked stream id.")
ALL_OPTION = flag(False, "--all", help="Every parked stream of every subscription.")
SUBSCRIPTION_OPTION = typer.Option(
    None, "--subscription", help="Every parked stream of this subscription."
)
REASON_OPTION = typer.Option(
    None, "--reason", help="Every parked stream whose reason contains TEXT (any case)."
)


def _selected(
    ops: Operations,
    subscription: str | None,
    stream: str | None,
    everything: bool,
    of_subscription: str | None,
    reason: str | None,
) -> list[ParkedStream]:
    """The parked streams a redrive or skip works on; one line and exit 1 for a selection
    that does not parse or names what is not there."""
    single = subscription is not None or stream is not None
    chosen = everything or of_subscription is not None or reason is not None
    if single and chosen:
        fail(
            "name one stream (SUBSCRIPTION STREAM) or a selection (--all, "
            "--subscription, --reason), not both"
        )
    if single:
        if subscription is None or stream is None:
            fail(f"name the stream too (SUBSCRIPTION STREAM), or use --subscription {subscription}")
        return [ops.parked_stream(subscription, stream)]
    if not chosen:
        fail(
            "name a stream (SUBSCRIPTION STREAM) or choose --all, --subscription S or --reason TEXT"
        )
    if everything and (of_subscription is not None or reason is not None):
        fail("--all selects every parked stream: leave out --subscription and --reason")
    return ops.select_parked(of_subscription, reason)


def _not_running(ops: Operations, selected: list[ParkedStream]) -> list[ParkedStream]:
    return [p for p in selected if p.subscription not in ops.subscriptions]


def _left_parked(left: list[ParkedStream], done: str) -> NoReturn:
    names = sorted({p.subscription for p in left})
    fail(
        f"{done}; {len(left)} streams left parked: subscription(s) {', '.join(names)} do not "
        "run with these settings (a warning above names the missing setting, e.g. "
        "EVENTFOLD_WEBHOOKS); nothing of theirs was sent or marked done"
    )


@app.command("redrive")
def parked_redrive(
    ctx: typer.Context,
    subscription: str = SUBSCRIPTION_ARG,
    stream: str = STREAM_ARG,
    everything: bool = ALL_OPTION,
    of_subscription: str = SUBSCRIPTION_OPTION,
    reason: str = REASON_OPTION,
) -> None:
    """Re-apply the waiting events in order, then unpark the stream (one, or a selection)."""
    with operations(ctx) as ops:
        selected = _selected(ops, subscription, stream, everything, of_subscription, reason)
        if not selected:
            typer.echo("no parked streams selected")
            return
        telemetry = Telemetry()
        applied = 0
        failed: list[str] = []
        for parked in selected:
            if parked.subscription not in ops.subscriptions:
                continue
            report = ops.redrive(parked.subscription, parked.stream_id, observer=telemetry)
            applied += report.applied
            if not report.unparked:
                failed.append(
                    f"{parked.subscription} {parked.stream_id} at version "
                    f"{report.failed_version} ({report.reason})"
                )
            else:
                typer.echo(
                    f"redrove {parked.stream_id} for {parked.subscription}: {report.applied} "
                    f"applied, {report.duplicates} already applied; unparked"
                )
        if failed:
            fail(
                f"{len(failed)} of {len(selected)} streams failed again and stay parked: "
                f"{'; '.join(failed)}; fix the cause, then redrive again or skip them"
            )
        left = _not_running(ops, selected)
        if left:
            _left_parked(left, f"redrove {len(selected) - len(left)} streams")


@app.command("skip")
def parked_skip(
    ctx: typer.Context,
    subscription: str = SUBSCRIPTION_ARG,
    stream: str = STREAM_ARG,
    everything: bool = ALL_OPTION,
    of_subscription: str = SUBSCRIPTION_OPTION,
    reason: str = REASON_OPTION,
    yes: bool = flag(False, "--yes", help="Really skip (the events are never applied)."),
) -> None:
    """Give up on the waiting events: mark them handled without applying them, unpark
    (one stream, or a selection)."""
    if not yes:
        fail(
            "skipping means these events are never applied for this subscription; "
            "add --yes to confirm"
        )
    with operations(ctx) as ops:
        selected = _selected(ops, subscription, stream, everything, of_subscription, reason)
        if not selected:
            typer.echo("no parked streams selected")
            return
        for parked in selected:
            if parked.subscription not in ops.subscriptions:
                continue
            skipped = ops.skip(parked.subscription, parked.stream_id)
            typer.echo(
                f"skipped {skipped} events of {parked.stream_id} for {parked.subscription}; "
                "unparked"
            )
        left = _not_running(ops, selected)
        if left:
            _left_parked(left, f"skipped {len(selected) - len(left)} streams")
