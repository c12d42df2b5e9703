"""The console's pages and actions (``/console/...``): server-rendered Jinja2 templates,
made live with htmx (the subscriptions table is polled; actions swap the parked table).

Each action is also a CLI command (see docs/console.md): the page says which one after it
acts, and both call :class:`~eventfold.entry.operations.Operations`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from eventfold.core.redaction import redact
from eventfold.entry.console.history import History, Sample, sparkline
from eventfold.entry.console.session import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    PATH,
    Action,
    Session,
    operator_of,
    same_origin,
    token_expiry,
)
from eventfold.entry.console.views import effect_attempts, event_view, timeline
from eventfold.entry.http.callers import PUBLIC, Authentication
from eventfold.entry.operations import OperationRefused, Operations, SubscriptionStatus
from eventfold.errors import EventfoldError

HERE = Path(__file__).parent
STATIC = {"htmx.min.js": "text/javascript", "console.css": "text/css"}
"""The files under static/ the console serves (vendored: no CDN at runtime)."""

POLL_SECONDS = 2

Selected = Annotated[list[str], Form(default_factory=list)]
"""The ticked parked streams, each ``"<subscription> <stream id>"``."""
Everything = Annotated[bool, Form(alias="all")]
"""Act on every parked stream."""


def subscription_row(
    status: SubscriptionStatus, samples: list[Sample], slots: int, waiting: dict[str, int]
) -> dict[str, Any]:
    """One row of the subscriptions table: the status now, and a chart per measure over
    the history's ``slots`` samples."""

    def chart(pick: Callable[[Sample], float | None], label: str) -> str:
        values = [pick(s) for s in samples]
        return sparkline(values, slots=slots, label=f"{status.name} {label}")

    latest = samples[-1] if samples else None
    return {
        "status": status,
        "waiting": waiting.get(status.name, 0),
        "throughput": latest.throughput if latest else None,
        "freshness": latest.freshness if latest else None,
        "lag_events_chart": chart(lambda s: s.lag_events, "lag in events"),
        "lag_seconds_chart": chart(lambda s: s.lag_seconds, "lag in seconds"),
        "freshness_chart": chart(lambda s: s.freshness, "freshness"),
        "throughput_chart": chart(lambda s: s.throughput, "throughput"),
    }


@dataclass
class ConsoleState:
    """What the console's routes read: the operations (set once the app has started and
    opened the router state) and the sampled history."""

    history: History
    operations: Operations | None = None
    connect: Callable[[], Operations] | None = None
    """Opens the router state when :attr:`operations` is not there yet (set by the runner)."""

    def ops(self) -> Operations:
        if self.operations is not None:
            return self.operations
        if self.connect is None:
            raise OperationRefused("the console has not started; reload in a moment")
        try:
            return self.connect()
        except Exception as exc:
            raise OperationRefused(
                f"the console cannot read the router state ({type(exc).__name__}: "
                f"{redact(str(exc))}); "
                "reload in a moment"
            ) from exc


def console_templates() -> Jinja2Templates:
    """The console's templates (autoescaped), with the names every page uses."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(
        csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER, poll_seconds=POLL_SECONDS
    )
    return templates


def console_routes(state: ConsoleState) -> APIRouter:
    """The console's routes, every one either for a signed-in operator or public (the
    login form and the static files)."""
    router = APIRouter(prefix=PATH, include_in_schema=False)
    templates = console_templates()

    def page(request: Request, name: str, session: Any, status: int = 200, **values: Any) -> Any:
        return templates.TemplateResponse(
            request, name, {"session": session, **values}, status_code=status
        )

    async def run(work: Callable[[], Any]) -> Any:
        return await to_thread.run_sync(work)

    @router.get("", dependencies=[PUBLIC])
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PATH}/subscriptions", status_code=303)

    @router.get("/static/{name}", dependencies=[PUBLIC])
    async def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404)
        return FileResponse(HERE / "static" / name, media_type=STATIC[name])

    # -- login ----------------------------------------------------------------------------
    @router.get("/login", dependencies=[PUBLIC])
    async def login_form(request: Request, reason: str = "") -> Any:
        return page(request, "login.html", None, reason=reason)

    @router.post("/login", dependencies=[PUBLIC])
    async def login(request: Request, token: Annotated[str, Form(max_length=8192)]) -> Any:
        same_origin(request)
        authentication: Authentication = request.app.state.authentication
        token = token.strip()
        try:
            operator_of(authentication, token)
            max_age = token_expiry(authentication, token)
        except EventfoldError as exc:
            return page(request, "login.html", None, status=401, reason=str(exc))
        response = RedirectResponse(f"{PATH}/subscriptions", status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=max_age,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    async def logout(session: Action) -> RedirectResponse:
        response = RedirectResponse(f"{PATH}/login", status_code=303)
        response.delete_cookie(COOKIE, path=PATH)
        return response

    # -- subscriptions ----------------------------------------------------------------------
    def subscription_rows() -> list[dict[str, Any]]:
        ops = state.ops()
        waiting: dict[str, int] = {}
        for p in ops.parked():
            waiting[p.subscription] = waiting.get(p.subscription, 0) + p.count
        return [
            subscription_row(
                status, state.history.samples(status.name), state.history.size, waiting
            )
            for status in ops.statuses()
        ]

    @router.get("/subscriptions")
    async def subscriptions(request: Request, session: Session) -> Any:
        rows = await run(subscription_rows)
        return page(request, "subscriptions.html", session, rows=rows)

    @router.get("/subscriptions/live")
    async def subscriptions_live(request: Request, session: Session) -> Any:
        rows = await run(subscription_rows)
        return page(request, "_subscriptions.html", session, rows=rows)

    # -- parked streams ---------------------------------------------------------------------
    def parked_page_values(results: list[str], errors: list[str]) -> dict[str, Any]:
        ops = state.ops()
        return {"parked": ops.parked_anywhere(), "results": results, "errors": errors}

    @router.get("/parked")
    async def parked(request: Request, session: Session) -> Any:
        values = await run(lambda: parked_page_values([], []))
        return page(request, "parked.html", session, **values)

    def act(
        selected: list[str], everything: bool, one: Callable[[Operations, str, str], str]
    ) -> dict[str, Any]:
        """Act on the ticked streams, or on every parked stream (the selection of
        ``eventfold parked redrive|skip --all``); a stream of a subscription that does not
        run here is left parked, saying why."""
        ops = state.ops()
        if everything:
            pairs = [(p.subscription, p.stream_id) for p in ops.select_parked()]
        else:
            pairs = [(item.partition(" ")[0], item.partition(" ")[2]) for item in selected]
        results, errors = [], []
        if not pairs:
            errors.append("nothing selected: tick the streams to act on, or use the all button")
        for subscription, stream in dict.fromkeys(pairs):
            try:
                results.append(one(ops, subscription, stream))
            except OperationRefused as exc:
                errors.append(str(exc))
        return parked_page_values(results, errors)

    def redrive_one(ops: Operations, subscription: str, stream: str) -> str:
        done = ops.redrive(subscription, stream)
        command = f"eventfold parked redrive {subscription} {stream}"
        if done.unparked:
            return (
                f"redrove {stream} for {subscription}: {done.applied} applied, "
                f"{done.duplicates} already applied; unparked (CLI: {command})"
            )
        raise OperationRefused(
            f"{stream} failed again at version {done.failed_version} and stays parked for "
            f"{subscription} ({done.reason}); fix the cause, then redrive again or skip it"
        )

    def skip_one(ops: Operations, subscription: str, stream: str) -> str:
        skipped = ops.skip(subscription, stream)
        command = f"eventfold parked skip {subscription} {stream} --yes"
        return f"skipped {skipped} events of {stream} for {subscription} (CLI: {command})"

    @router.post("/parked/redrive")
    async def redrive(
        request: Request, session: Action, stream: Selected, everything: Everything = False
    ) -> Any:
        values = await run(lambda: act(stream, everything, redrive_one))
        return page(request, "_parked.html", session, **values)

    @router.post("/parked/skip")
    async def skip(
        request: Request, session: Action, stream: Selected, everything: Everything = False
    ) -> Any:
        values = await run(lambda: act(stream, everything, skip_one))
        return page(request, "_parked.html", session, **values)

    @router.get("/parked/{subscription}/{stream:path}")
    async def parked_stream(
        request: Request, session: Session, subscription: str, stream: str
    ) -> Any:
        def read() -> dict[str, Any]:
            ops = state.ops()
            found = ops.parked_stream(subscription, stream)
            codecs = ops.codecs()
            waiting = [event_view(e, codecs) for e in ops.parked_events(subscription, stream)]
            attempts = effect_attempts(ops, stream, found.first_version)
            retry = ops.subscription(subscription).retry
            return {"p": found, "waiting": waiting, "attempts": attempts, "retry": retry}

        try:
            values = await run(read)
        except OperationRefused as exc:
            return page(request, "message.html", session, status=404, message=str(exc))
        return page(request, "parked_stream.html", session, **values)

    # -- the audit against the event store ----------------------------------------------------
    def audited(subscription: str, results: list[str], errors: list[str]) -> dict[str, Any]:
        ops = state.ops()
        behind = ops.audit(subscription) if subscription else None
        return {
            "subscriptions": sorted(ops.subscriptions),
            "subscription": subscription,
            "behind": behind,
            "results": results,
            "errors": errors,
        }

    @router.get("/audit")
    async def audit_page(
        request: Request,
        session: Session,
        subscription: Annotated[str, Query(max_length=100)] = "",
    ) -> Any:
        try:
            values = await run(lambda: audited(subscription, [], []))
        except OperationRefused as exc:
            refused = [str(exc)]
            values = await run(lambda: audited("", [], refused))
        return page(request, "audit.html", session, **values)

    @router.post("/audit/heal")
    async def audit_heal(
        request: Request, session: Action, subscription: Annotated[str, Form(max_length=100)]
    ) -> Any:
        def heal() -> dict[str, Any]:
            ops = state.ops()
            try:
                behind, report = ops.heal(subscription)
            except OperationRefused as exc:
                return audited("", [], [str(exc)])
            results, errors = [], []
            parked = sum(1 for b in behind if b.parked)
            message = (
                f"healed {subscription}: {report.applied} events applied, "
                f"{report.duplicates} already applied"
            )
            if parked:
                message += f"; {parked} parked streams left to a redrive"
            results.append(f"{message} (CLI: eventfold audit {subscription} --heal)")
            if report.parked:
                streams = ", ".join(sorted({stream for stream, _ in report.parked}))
                errors.append(f"these streams failed and parked: {streams}")
            return audited(subscription, results, errors)

        values = await run(heal)
        return page(request, "_audit.html", session, **values)

    # -- a stream's timeline ----------------------------------------------------------------
    @router.get("/streams")
    async def stream_timeline(
        request: Request,
        session: Session,
        stream: Annotated[str, Query(max_length=300)] = "",
    ) -> Any:
        stream = stream.strip()
        found = await run(lambda: timeline(state.ops(), stream)) if stream else None
        return page(request, "timeline.html", session, stream=stream, timeline=found)

    return router
