"""``eventfold console``: the operator console alone, against any home (or the DynamoDB
tables the settings name), without running the services."""

from __future__ import annotations

import typer
import uvicorn

from eventfold.entry.cli.common import cli_context, require_home
from eventfold.entry.cli.serve import listening_socket
from eventfold.entry.composition import console_app, service_context
from eventfold.entry.context_reads import migrate_query_model


def console(
    ctx: typer.Context,
    port: int = typer.Option(
        0, "--port", min=0, max=65535, help="Listen on this port (default: PORT)."
    ),
) -> None:
    """Serve the operator console on http://HOST:PORT/console for the data folder
    EVENTFOLD_HOME (or EVENTFOLD_STORE=dynamodb with the AWS settings) while the services
    run elsewhere; sign in with an operator token (`eventfold token --role operator`)."""
    cli = cli_context(ctx)
    settings = cli.settings()
    require_home(settings)
    if port:
        settings = settings.model_copy(update={"port": port})
    services = cli.services()
    with service_context(settings) as context:
        migrate_query_model(services, context)  # a redrive writes the query model
        app = console_app(settings, services, context)
        sock = listening_socket(settings)
        typer.echo(f"operator console on {settings.url}/console (Ctrl-C stops it)", err=True)
        config = uvicorn.Config(app, log_config=None, log_level=None, access_log=False)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
