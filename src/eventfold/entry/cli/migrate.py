"""``eventfold migrate``: upgrade the query-model schema of the installed services now.

``eventfold run``, ``worker`` and the operations commands run the same migrations at
startup; this command runs them on its own (a deploy step, or to see what they apply)."""

from __future__ import annotations

import typer

from eventfold.entry.cli.common import cli_context
from eventfold.entry.composition import service_context
from eventfold.entry.context_reads import migrate_query_model


def migrate(ctx: typer.Context) -> None:
    """Apply the missing Alembic revisions of every installed service (or
    EVENTFOLD_SERVICES) and of eventfold's own tables to the query-model database."""
    cli = cli_context(ctx)
    settings = cli.settings()
    services = cli.services()
    with_migrations = [s.name for s in services if s.migrations is not None]
    if not with_migrations:
        typer.echo("no service declares migrations: nothing to do")
        return
    with service_context(settings) as context:
        applied = migrate_query_model(services, context)
    for revision in applied:
        typer.echo(f"applied {revision}")
    names = ", ".join(with_migrations)
    if applied:
        typer.echo(f"query model of {names}: {len(applied)} revision(s) applied")
    else:
        typer.echo(f"query model of {names}: up to date, nothing to apply")
