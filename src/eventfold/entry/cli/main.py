"""The ``eventfold`` command.

Each command or command group lives in its own module beside this one and is registered
here with one line (``app.command(...)`` for a command, ``app.add_typer(...)`` for a group).
"""

from __future__ import annotations

import typer

from eventfold.entry.cli import (
    audit,
    aws,
    console,
    migrate,
    ops,
    parked,
    schema,
    serve,
    streams,
    tokens,
)
from eventfold.entry.cli.common import CliContext, OneLineErrors, flag
from eventfold.entry.logs import configure_logging_from

app = typer.Typer(
    name="eventfold",
    cls=OneLineErrors,
    help="eventfold: event-sourced services with a transactional outbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    traceback: bool = flag(False, "--traceback", help="Show the traceback of an unexpected error."),
) -> None:
    """Settings come from the environment (PORT, EVENTFOLD_HOME, ...); see README.md."""
    if not isinstance(ctx.obj, CliContext):
        ctx.obj = CliContext()
    ctx.obj.show_traceback = traceback
    # Every command, and so every process `eventfold run` starts, logs the same way.
    configure_logging_from(ctx.obj.environ)


app.command("run")(serve.run)
app.command("serve-http", hidden=True)(serve.serve_http)
app.command("events")(streams.events)
app.command("console")(console.console)
app.command("token")(tokens.token)
app.add_typer(aws.app, name="aws")
app.add_typer(schema.app, name="schema")
app.command("migrate")(migrate.migrate)
ops.register(app)
app.add_typer(parked.app, name="parked")
app.command("audit")(audit.audit_command)


if __name__ == "__main__":  # pragma: no cover
    app()
