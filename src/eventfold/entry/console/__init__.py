"""The operator console: ``/console`` on the HTTP app of ``eventfold run`` and of
``eventfold console`` (see docs/console.md).

:func:`mount_console` adds its routes to an app and returns the background runner that
opens the router state, samples the subscriptions' history and closes them again; the
composition root passes that runner to :func:`~eventfold.entry.http.create_app`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from eventfold.entry.console.history import (
    DEFAULT_INTERVAL,
    FreshnessReader,
    History,
    Sampler,
    log,
)
from eventfold.entry.console.routes import ConsoleState, console_routes, console_templates
from eventfold.entry.console.session import PATH, NeedsLogin
from eventfold.entry.http import BackgroundRunner, StopRunner
from eventfold.entry.http.flat_routes import include_routes
from eventfold.entry.operations import (
    OperationRefused,
    Operations,
    SubscriptionStatus,
    operations_on,
)
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.worker import RouterParts

__all__ = ["ConsoleState", "console_runner", "mount_console"]


def console_runner(
    state: ConsoleState,
    services: Sequence[Service],
    context: ServiceContext,
    open_parts: Callable[[], RouterParts],
    freshness: FreshnessReader = dict,
) -> BackgroundRunner:
    """Starts with the app: opens the router state, makes the console's operations and
    starts sampling; the stop it returns ends the sampling and closes the router state."""

    def start() -> StopRunner:
        opened: list[RouterParts] = []
        lock = threading.Lock()

        def connect() -> Operations:
            """The console's operations, opening the router state on first use (again
            after a failure: the console must never keep the API from starting)."""
            with lock:
                if state.operations is None:
                    parts = open_parts()
                    try:
                        ops = operations_on(list(services), context, parts)
                    except BaseException:
                        parts.close()
                        raise
                    opened.append(parts)
                    state.operations = ops
                return state.operations

        state.connect = connect
        try:
            connect()
        except Exception:
            log.exception("the console cannot open the router state yet; it retries")

        def read() -> tuple[list[SubscriptionStatus], int | None]:
            ops = connect()
            return ops.statuses(), ops.committed_events()

        stop_sampling = Sampler(state.history, read, freshness).start()

        def stop() -> None:
            stop_sampling()
            state.connect = None
            state.operations = None
            for parts in opened:
                parts.close()

        return stop

    return start


def mount_console(app: FastAPI, state: ConsoleState) -> None:
    """Add the console's routes to ``app``; a request without an operator session is sent
    to the login form (an htmx request by ``HX-Redirect``, as htmx follows no 303 to a
    whole page)."""

    async def on_needs_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NeedsLogin)
        target = f"{PATH}/login?reason={quote(exc.reason)}"
        if request.headers.get("HX-Request"):
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    templates = console_templates()

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OperationRefused)
        return templates.TemplateResponse(
            request, "message.html", {"session": None, "message": str(exc)}, status_code=503
        )

    app.add_exception_handler(NeedsLogin, on_needs_login)
    app.add_exception_handler(OperationRefused, on_refused)
    include_routes(app.router, console_routes(state))


def new_state(interval: float = DEFAULT_INTERVAL) -> ConsoleState:
    """A console with an empty history sampled every ``interval`` seconds."""
    return ConsoleState(History(interval=interval))
