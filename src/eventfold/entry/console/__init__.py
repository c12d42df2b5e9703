"""The operator console: ``/console`` on the HTTP app of ``eventfold run`` and of
``eventfold console`` (see docs/console.md).

:func:`mount_console` adds its routes to an app and returns the background runner that
opens the router state, samples the subscriptions' history and closes them again; the
composition root passes that runner to :func:`~eventfold.entry.http.create_app`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from eventfold.entry.console.history import (
    DEFAULT_INTERVAL,
    FreshnessReader,
    History,
    Sampler,
)
from eventfold.entry.console.routes import ConsoleState, console_routes
from eventfold.entry.console.session import PATH, NeedsLogin
from eventfold.entry.http import BackgroundRunner, StopRunner
from eventfold.entry.operations import operations_on
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
        parts = open_parts()
        ops = operations_on(list(services), context, parts)
        state.operations = ops
        sampler = Sampler(
            state.history,
            lambda: (ops.statuses(), ops.committed_events()),
            freshness,
        )
        stop_sampling = sampler.start()

        def stop() -> None:
            stop_sampling()
            state.operations = None
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

    app.add_exception_handler(NeedsLogin, on_needs_login)
    app.include_router(console_routes(state))


def new_state(interval: float = DEFAULT_INTERVAL) -> ConsoleState:
    """A console with an empty history sampled every ``interval`` seconds."""
    return ConsoleState(History(interval=interval))
