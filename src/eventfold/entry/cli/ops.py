"""Operating the router: ``worker``, ``subscriptions``, ``parked …``, ``rebuild``, ``tail``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
import typer
from prometheus_client import start_http_server
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eventfold.core.router.ports import BEGINNING
from eventfold.core.router.rebuild import rebuild as rebuild_projection
from eventfold.entry.cli.common import cli_context, flag, require_home
from eventfold.entry.cli.streams import as_record, payload_json
from eventfold.entry.composition import route_until_signalled, router_parts, service_context
from eventfold.entry.context_reads import migrate_query_model
from eventfold.entry.operations import Operations, as_dict, operations_on
from eventfold.entry.processes import exit_with_parent, prepare_heap_for_serving
from eventfold.entry.telemetry import Telemetry
from eventfold.entry.worker import subscriptions_of

log = structlog.stdlib.get_logger("eventfold.worker")


@contextmanager
def operations(ctx: typer.Context, *, read_only: bool = False) -> Iterator[Operations]:
    """The parts an operations command works on, in an existing home (a mistyped
    EVENTFOLD_HOME is refused, not made); ``read_only`` commands never migrate."""
    cli = cli_context(ctx)
    settings = cli.settings()
    require_home(settings)
    services = cli.services()
    with service_context(settings) as context:
        if not read_only:
            migrate_query_model(services, context)
        parts = router_parts(settings, context.store)
        try:
            yield operations_on(services, context, parts)
        finally:
            parts.close()


def worker(
    ctx: typer.Context,
    metrics_port: int = typer.Option(
        0, "--metrics-port", min=0, max=65535, help="Serve /metrics on this port (0: off)."
    ),
    metrics_host: str = typer.Option(
        "", "--metrics-host", help="The address /metrics listens on (default: EVENTFOLD_HOST)."
    ),
    parent_pid: int = typer.Option(0, "--parent-pid", hidden=True),
) -> None:
    """Route events to every subscription and run the services' periodic jobs until
    SIGTERM (stops after the current batch and round)."""
    cli = cli_context(ctx)
    settings = cli.settings()
    services = cli.services()
    telemetry = Telemetry()
    if parent_pid:  # started by `eventfold run`: stop when it dies
        exit_with_parent(parent_pid)
    if metrics_port:
        host = metrics_host or settings.host
        start_http_server(metrics_port, addr=host, registry=telemetry.registry)
    with service_context(settings) as context:
        for revision in migrate_query_model(services, context):
            log.info("query-model schema applied", revision=revision)
        names = [s.name for s in subscriptions_of(services, context)]

        def ready() -> None:
            prepare_heap_for_serving()  # the router's parts are open: they live as long
            log.info("routing to subscriptions", subscriptions=names)

        route_until_signalled(settings, services, context, telemetry, ready=ready)
    log.info("stopped")


def subscriptions(
    ctx: typer.Context,
    json_lines: bool = flag(
        False, "--json", help="One JSON object per subscription and line, for scripts."
    ),
) -> None:
    """Each subscription's position, lag (events, seconds) and parked streams."""
    with operations(ctx, read_only=True) as ops:
        table = Table("subscription", "target", "position", "lag events", "lag s", "parked")
        for column in table.columns[:3]:
            column.no_wrap = True  # names and positions are never cut
        for status in ops.statuses():
            if json_lines:
                typer.echo(json.dumps(as_dict(status)))
                continue
            table.add_row(
                status.name,
                status.target,
                status.position or "start",
                "?" if status.lag_events is None else str(status.lag_events),
                "?" if status.lag_seconds is None else f"{status.lag_seconds:.1f}",
                str(status.parked),
            )
        if not json_lines:
            Console(soft_wrap=True).print(table)


def rebuild(
    ctx: typer.Context,
    projection: str = typer.Argument(help="The subscription whose projection to rebuild."),
) -> None:
    """Rebuild a projection from the event store into fresh tables, then swap them in."""
    with operations(ctx) as ops:
        sub = ops.subscription(projection)
        store = ops.context.store
        total = ops.parts.feed.lag(BEGINNING).events
        started = time.perf_counter()
        columns = (
            TextColumn(f"rebuilding {projection}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} events/s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task("rebuild", total=total, rate="-")
            done = [0]

            def advance(count: int) -> None:
                done[0] += count
                rate = done[0] / max(time.perf_counter() - started, 1e-9)
                # Events committed since the count was taken: the bar grows, never overshoots.
                grown = max(total or 0, done[0])
                progress.update(task, advance=count, total=grown, rate=f"{rate:,.0f}")

            applied = rebuild_projection(sub, store, ops.parts.checkpoints, progress=advance)
        seconds = time.perf_counter() - started
        typer.echo(
            f"rebuilt {projection}: {done[0]} events read, {applied} applied in "
            f"{seconds:.1f} s ({done[0] / max(seconds, 1e-9):,.0f} events/s)"
        )


def tail(
    ctx: typer.Context,
    from_start: bool = flag(False, "--from-start", help="Begin with the first event."),
    follow: bool = flag(True, "--follow/--no-follow", help="Wait for new events."),
    limit: int = typer.Option(0, "--limit", min=0, help="Stop after this many events (0: no)."),
    category: list[str] = typer.Option(
        [], "--category", help="Only these stream categories (repeat, or a,b)."
    ),
) -> None:
    """Print events as they are committed (one JSON object per line)."""
    wanted = {c.strip() for given in category for c in given.split(",") if c.strip()}
    with operations(ctx, read_only=True) as ops:
        owned = {c for s in ops.services for c in s.categories}
        if wanted - owned:  # not an error: a category may have no service here
            unowned = ", ".join(sorted(wanted - owned))
            typer.echo(
                f"note: no installed service owns {unowned} (known: "
                f"{', '.join(sorted(owned)) or 'none'}); only events of such streams match",
                err=True,
            )
        feed = ops.parts.feed
        codecs = ops.codecs()
        checkpoint = BEGINNING if from_start else feed.head()
        printed = 0
        try:
            while True:
                batch = feed.poll(checkpoint, limit=500, timeout=1.0 if follow else 0.0)
                for event in batch.events:
                    if wanted and event.category not in wanted:
                        continue
                    typer.echo(json.dumps(as_record(event, payload_json(event, codecs))))
                    printed += 1
                    if limit and printed >= limit:
                        return
                checkpoint = batch.checkpoint
                if not batch.events and not follow:
                    return
        except KeyboardInterrupt:
            return


def register(app: typer.Typer) -> None:
    """Add the operations commands to the ``eventfold`` command."""
    app.command("worker")(worker)
    app.command("subscriptions")(subscriptions)
    app.command("rebuild")(rebuild)
    app.command("tail")(tail)
