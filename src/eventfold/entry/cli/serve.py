"""``eventfold run``: serve the installed services over HTTP, with the router beside them.

``run`` is a supervisor (:mod:`eventfold.entry.processes`): it applies the query model's
migrations, makes the local token signing key, binds HOST:PORT (the one port it uses:
local e-mail is a folder, not a server) and starts ``EVENTFOLD_WORKERS`` HTTP processes (the
hidden ``serve-http`` command, inheriting the listening socket; with EVENTFOLD_ONE_WRITER=on
the first commits the commands the others take) and one router process (``eventfold
worker``), until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
import typer
import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp

from eventfold.entry.cli.common import cli_context
from eventfold.entry.composition import http_app, http_authentication, service_context
from eventfold.entry.context_reads import migrate_query_model
from eventfold.entry.http.forwarding import ForwardWrites, WriterEndpoint
from eventfold.entry.http.handover import (
    WRITER_STARTUP_SECONDS,
    AdoptedHttpProtocol,
    Adoption,
    HandingOverHttpProtocol,
    Handover,
)
from eventfold.entry.http.metrics import HttpMetrics
from eventfold.entry.http.one_write import OneWriteHttpProtocol
from eventfold.entry.processes import (
    Child,
    Supervisor,
    eventfold_command,
    exit_with_parent,
    prepare_heap_for_serving,
)
from eventfold.entry.settings import Settings
from eventfold.entry.telemetry import RemoteMetrics
from eventfold.errors import ConfigurationError

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's variable naming the folder where processes share their metrics."""

log = structlog.stdlib.get_logger("eventfold.run")


def listening_socket(settings: Settings) -> socket.socket:
    """Bind HOST:PORT before serving, so a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP; with proto 0 every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): "
            f"stop what uses that port, or set PORT to a free one (e.g. PORT={settings.port + 1})"
        ) from exc
    sock.set_inheritable(True)
    return sock


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for the router's metrics)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children(
    settings: Settings,
    listening_fd: int,
    metrics_port: int,
    environ: Mapping[str, str] | None = None,
    http_metrics_dir: Path | None = None,
    writer_socket: Path | None = None,
    handover_socket: Path | None = None,
) -> list[Child]:
    """The processes ``eventfold run`` keeps running: the router (unless
    EVENTFOLD_ROUTER=off) and ``settings.http_processes`` HTTP processes, with ``environ``
    (default: this process's). ``http_metrics_dir``: the folder where the HTTP processes
    keep their request and command metrics, so that ``/metrics`` on any of them adds up
    all of them (prometheus_client's multiprocess mode). ``writer_socket``: where the first
    HTTP process (the writer) takes the others' commands, when
    ``settings.one_writer_process`` (:mod:`eventfold.entry.http.forwarding`).
    ``handover_socket``: where the writer takes the connections whose first request
    writes from the others, when ``settings.handover_process``
    (:mod:`eventfold.entry.http.handover`)."""
    parent = str(os.getpid())
    found = []
    if settings.router:
        found.append(
            Child(
                "router",
                eventfold_command(
                    "worker",
                    "--metrics-port",
                    str(metrics_port),
                    "--metrics-host",
                    "127.0.0.1",
                    "--parent-pid",
                    parent,
                ),
                env=environ,
                nice=settings.router_nice,
            )
        )
    http = ["serve-http", "--fd", str(listening_fd), "--parent-pid", parent]
    if settings.router:
        http += ["--router-metrics", f"http://127.0.0.1:{metrics_port}/metrics"]
    http_env = environ
    if http_metrics_dir is not None:
        http_env = {**(os.environ if environ is None else environ)}
        http_env[MULTIPROCESS_DIR] = str(http_metrics_dir)
    for n in range(1, settings.http_processes + 1):
        role: list[str] = []
        if writer_socket is not None and settings.one_writer_process:
            role = ["--serve-writes" if n == 1 else "--forward-writes", str(writer_socket)]
        if handover_socket is not None and settings.handover_process:
            role += ["--take-connections" if n == 1 else "--hand-over", str(handover_socket)]
        found.append(Child(f"http-{n}", eventfold_command(*http, *role), (listening_fd,), http_env))
    return found


def run(ctx: typer.Context) -> None:
    """Serve every installed service (or EVENTFOLD_SERVICES) on http://HOST:PORT.

    Starts EVENTFOLD_WORKERS HTTP processes (default: one per CPU) and a router
    process (EVENTFOLD_ROUTER=off: leave routing to `eventfold worker`); Ctrl-C stops
    them all.
    Settings come from the environment: PORT, EVENTFOLD_HOME, EVENTFOLD_HOST,
    EVENTFOLD_DURABILITY, EVENTFOLD_STORE, EVENTFOLD_SERVICES, EVENTFOLD_LOG_LEVEL, ...
    (see README.md).
    """
    cli = cli_context(ctx)
    settings = cli.settings()
    services = cli.services()
    with service_context(settings) as context:
        applied = migrate_query_model(services, context)  # once, before any child starts
    http_authentication(settings)  # the local signing key exists before any child starts
    sock = listening_socket(settings)
    # Made private to this user (mkdtemp): the metrics files and the writer's socket.
    shared = tempfile.TemporaryDirectory(prefix="eventfold-run-")
    try:
        metrics_dir = Path(shared.name) / "metrics"
        metrics_dir.mkdir()
        processes = children(
            settings,
            sock.fileno(),
            free_loopback_port(),
            http_metrics_dir=metrics_dir,
            writer_socket=Path(shared.name) / "writer.sock",
            handover_socket=Path(shared.name) / "handover.sock",
        )
        log.info(
            "serving",
            services=[s.name for s in services],
            url=settings.url,
            api_docs=f"{settings.url}/docs",
        )
        log.info(
            "data folder",
            path=str(settings.home.resolve()),
            store=settings.store,
            durability=settings.durability,
        )
        for revision in applied:
            log.info("query-model schema applied", revision=revision)
        log.info(
            "processes",
            http=settings.http_processes,
            commands="all committed by http-1 (EVENTFOLD_ONE_WRITER=on)"
            if settings.one_writer_process
            else "committed by the HTTP process that takes them",
            router=(
                "a router process"
                + (f" at nice +{settings.router_nice}" if settings.router_nice else "")
            )
            if settings.router
            else "off (EVENTFOLD_ROUTER=off)",
        )
        code = Supervisor(processes, log.warning).run()
    finally:
        sock.close()
        shared.cleanup()
    log.info("stopped")
    if code:
        raise typer.Exit(code)


def serve_http(
    ctx: typer.Context,
    fd: int = typer.Option(..., "--fd", help="The listening socket's file descriptor."),
    parent_pid: int = typer.Option(0, "--parent-pid", help="Stop when this process dies."),
    router_metrics: str = typer.Option(
        "", "--router-metrics", help="URL of the router process's metrics, served on /metrics."
    ),
    serve_writes: str = typer.Option(
        "", "--serve-writes", help="Also serve the other processes' commands on this socket."
    ),
    forward_writes: str = typer.Option(
        "", "--forward-writes", help="Hand commands to the process serving this socket."
    ),
    take_connections: str = typer.Option(
        "", "--take-connections", help="Also serve connections handed over on this socket."
    ),
    hand_over: str = typer.Option(
        "", "--hand-over", help="Hand connections that start writing to this socket."
    ),
) -> None:
    """One HTTP process of `eventfold run` (started by it; not meant to be run by hand)."""
    cli = cli_context(ctx)
    settings = cli.settings()
    services = cli.services()
    if parent_pid:
        exit_with_parent(parent_pid)
    registry = CollectorRegistry()
    if router_metrics:
        registry.register(RemoteMetrics(router_metrics))
    shared = cli.environ.get(MULTIPROCESS_DIR)
    if shared:  # `eventfold run`'s HTTP processes: each adds to the files in this folder
        http_metrics = HttpMetrics(None)
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    else:
        http_metrics = HttpMetrics(registry)
    with service_context(settings, command_outcomes=http_metrics.command) as context:
        app = http_app(
            settings,
            services,
            context,
            router_metrics_url=router_metrics or None,
            metrics=registry,
            http_metrics=http_metrics,
            console=True,
        )
        served: ASGIApp = app
        if serve_writes:
            served = WriterEndpoint(app, serve_writes)
        elif forward_writes:
            served = ForwardWrites(app, forward_writes, max_body_bytes=settings.max_body_bytes)
        protocol: Any = OneWriteHttpProtocol  # one write per response (docs/performance.md)
        handover = Handover(hand_over) if hand_over else None
        if handover is not None:
            protocol = functools.partial(HandingOverHttpProtocol, handover=handover)
        if take_connections:

            def adopted(first: bytes) -> asyncio.Protocol:
                # Called only once the server below runs: its config and state exist.
                return AdoptedHttpProtocol(
                    config=config,
                    server_state=server.server_state,
                    app_state=server.lifespan.state,
                    first=first,
                )

            served = Adoption(served, take_connections, adopted)
        sock = socket.socket(fileno=fd)
        config = uvicorn.Config(
            served,
            # Keep the root logger's configuration (eventfold.entry.logs): uvicorn's
            # records go through it, at EVENTFOLD_LOG_LEVEL, instead of its own handlers.
            log_config=None,
            log_level=None,
            access_log=settings.access_log,
            lifespan="on",
            timeout_graceful_shutdown=10,
            http=protocol,
        )
        server = uvicorn.Server(config)
        if handover is not None and not handover.wait_for_writer(WRITER_STARTUP_SECONDS):
            log.warning("the writer takes no connections yet: serving them here until it does")
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
        # handler that was there before it: make SIGTERM, like Ctrl-C, end in a clean exit.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        prepare_heap_for_serving()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            sock.close()
            if handover is not None:
                log.info(
                    "connections that started writing",
                    handed_to_the_writer=handover.moved,
                    served_here=handover.stayed,
                )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
