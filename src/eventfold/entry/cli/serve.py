"""``eventfold run``: serve the installed services over HTTP."""

from __future__ import annotations

import signal
import socket
from collections.abc import Sequence
from types import FrameType

import typer
import uvicorn
from rich.console import Console

from eventfold.entry.cli.common import cli_context, service_context
from eventfold.entry.http import BackgroundRunner, create_app
from eventfold.entry.resources import (
    migrate_query_model,
    read_side_runners,
)
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import Settings
from eventfold.entry.telemetry import Telemetry
from eventfold.entry.worker import router_runner
from eventfold.errors import ConfigurationError


def background_runners(
    settings: Settings, services: Sequence[Service], context: ServiceContext, telemetry: Telemetry
) -> list[BackgroundRunner]:
    """What runs beside the HTTP server in the same process: the local SMTP sink (unless
    EVENTFOLD_MAIL_SINK=off), then the event router (unless EVENTFOLD_ROUTER=off)."""
    runners = read_side_runners(settings)
    if settings.router:
        runners.append(router_runner(settings, services, context, telemetry))
    return runners


def listening_socket(settings: Settings) -> socket.socket:
    """Bind HOST:PORT before serving, so a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP; with proto 0 every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
            f"stop what uses that port, or set PORT to a free one (e.g. PORT={settings.port + 1})"
        ) from exc
    sock.set_inheritable(True)
    return sock


def run(ctx: typer.Context) -> None:
    """Serve every installed service (or EVENTFOLD_SERVICES) on http://HOST:PORT.

    Settings come from the environment: PORT, EVENTFOLD_HOME, EVENTFOLD_HOST,
    EVENTFOLD_DURABILITY, EVENTFOLD_STORE, EVENTFOLD_SERVICES, EVENTFOLD_LOG_LEVEL,
    EVENTFOLD_ROUTER=off (leave routing to `eventfold worker`), ... (see README.md).
    """
    cli = cli_context(ctx)
    settings = cli.settings()
    services = cli.services()
    console = Console(stderr=True, soft_wrap=True)
    with service_context(settings) as context:
        applied = migrate_query_model(services, context)  # before any route or subscription
        telemetry = Telemetry()
        runners = background_runners(settings, services, context, telemetry)
        app = create_app(services, context, runners=runners, metrics=telemetry.registry)
        sock = listening_socket(settings)
        names = ", ".join(s.name for s in services) or "no services"
        console.print(
            f"eventfold: serving {names} on [bold]{settings.url}[/] (API docs: {settings.url}/docs)"
        )
        console.print(
            f"eventfold: data folder {settings.home.resolve()} "
            f"(store: {settings.store}, durability: {settings.durability})"
        )
        for revision in applied:
            console.print(f"eventfold: query-model schema: applied {revision}")
        server = uvicorn.Server(uvicorn.Config(app, log_level=settings.log_level, lifespan="on"))
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
        # handler that was there before it: make SIGTERM, like Ctrl-C, end in a clean exit 0.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            console.print("eventfold: stopped")
        finally:
            signal.signal(signal.SIGTERM, previous)
            sock.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
