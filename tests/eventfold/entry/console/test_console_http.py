"""The operator console over HTTP (no browser): the login cookie, CSRF, every page and
action, on the app ``eventfold console`` serves for a home with a parked stream and a
stream the projection is behind on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from eventfold import DeliveryFailed, SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.core.router.router import Router
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app as cli
from eventfold.entry.composition import console_app, router_parts, service_context
from eventfold.entry.console import console_runner, mount_console, new_state
from eventfold.entry.console.routes import console_routes
from eventfold.entry.console.session import COOKIE, console_session
from eventfold.entry.http import create_app
from eventfold.entry.http.callers import public
from eventfold.entry.settings import load_settings
from eventfold.entry.worker import RouterParts
from eventfold.errors import StoreUnavailable
from eventfold.testing import TokenIssuer
from tests.eventfold.core.router.targets import RebuildableSqliteTarget, fill
from tests.eventfold.entry.router_probe import PROBE_DB, probe_service

ORIGIN = "http://testserver"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """probe-1 (3 events, parked from version 2), probe-2 (2, applied) and probe-3 (2,
    never delivered: the checkpoint is past it, so only the audit sees it)."""
    store = SqliteEventStore(tmp_path / "eventfold.db")
    fill(store, {"probe-1": 3, "probe-2": 2, "probe-3": 2})
    target = RebuildableSqliteTarget(tmp_path / PROBE_DB, "probe-rows")

    def poison(event):  # type: ignore[no-untyped-def]
        if event.key == "probe-1:2":
            raise DeliveryFailed("partner said 400", retryable=False)

    target.faults.append(poison)
    state = SqliteRouterState(store.path)
    router = Router(Subscription("probe-rows", target), store, versions=state, parking=state)
    router.deliver([e for e in store.read_all(0) if e.stream_id != "probe-3"])
    state.advance("probe-rows", "", "7")
    state.close()
    store.close()
    return tmp_path


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    settings = load_settings({"EVENTFOLD_HOME": str(home)})
    with service_context(settings) as context:
        app = console_app(settings, [probe_service(home)], context)
        with TestClient(app, base_url=ORIGIN, follow_redirects=False) as test_client:
            yield test_client


def operator_token(home: Path, role: str = "operator", ttl: int = 600) -> str:
    return TokenIssuer.of_home(home).token("ops-1", role, ttl=ttl)


def sign_in(client: TestClient, home: Path) -> str:
    """Sign in through the form; returns the CSRF token of the session."""
    token = operator_token(home)
    assert client.post("/console/login", data={"token": token}).status_code == 303
    return hashlib.sha256(f"eventfold-console-csrf:{token}".encode()).hexdigest()


def rows(home: Path) -> dict[str, list[int]]:
    return RebuildableSqliteTarget(home / PROBE_DB).by_stream()


def test_a_page_without_a_session_sends_the_browser_to_the_login(client: TestClient) -> None:
    page = client.get("/console/subscriptions")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?reason=sign%20in")
    htmx = client.get("/console/subscriptions/live", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/console/login")
    assert "Operator token" in client.get("/console/login").text


@pytest.mark.parametrize(
    ("role", "ttl", "why"),
    [("staff", 600, "needs the role operator"), ("operator", -10, "the token has expired")],
)
def test_the_login_refuses_a_token_that_is_not_a_valid_operators(
    client: TestClient, home: Path, role: str, ttl: int, why: str
) -> None:
    answer = client.post("/console/login", data={"token": operator_token(home, role, ttl)})
    assert answer.status_code == 401
    assert why in answer.text
    assert COOKIE not in answer.cookies
    assert client.post("/console/login", data={"token": "nonsense"}).status_code == 401


def test_the_login_sets_a_strict_httponly_cookie_for_the_console_only(
    client: TestClient, home: Path
) -> None:
    answer = client.post("/console/login", data={"token": operator_token(home)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/subscriptions"
    cookie = answer.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/console"):
        assert attribute in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 590 <= max_age <= 600  # expires with the token
    assert client.get("/console/subscriptions").status_code == 200


def test_an_action_needs_the_sessions_csrf_token_and_the_consoles_origin(
    client: TestClient, home: Path
) -> None:
    csrf = sign_in(client, home)
    selected = {"stream": "probe-rows probe-1"}
    assert client.post("/console/parked/redrive", data=selected).status_code == 403
    forged = {**selected, "csrf": "0" * 64}
    assert client.post("/console/parked/redrive", data=forged).status_code == 403
    elsewhere = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert (
        client.post("/console/parked/redrive", data=selected, headers=elsewhere).status_code == 403
    )
    assert "probe-1" in client.get("/console/parked").text  # nothing was redriven
    done = client.post(
        "/console/parked/redrive", data=selected, headers={"X-CSRF-Token": csrf, "Origin": ORIGIN}
    )
    assert done.status_code == 200
    assert "redrove probe-1 for probe-rows: 2 applied" in done.text
    assert rows(home)["probe-1"] == [1, 2, 3]


def test_the_subscriptions_table_shows_position_lag_and_parked(
    client: TestClient, home: Path
) -> None:
    sign_in(client, home)
    live = client.get("/console/subscriptions/live").text
    assert 'data-field="position">7<' in live
    assert 'data-field="lag-events">0<' in live
    assert "1 (2 events)" in live
    assert "<svg" in live


def test_the_parked_page_shows_the_reason_and_the_failed_event(
    client: TestClient, home: Path
) -> None:
    sign_in(client, home)
    listed = client.get("/console/parked").text
    assert 'data-stream="probe-1"' in listed
    assert "DeliveryFailed: partner said 400" in listed
    shown = client.get("/console/parked/probe-rows/probe-1")
    assert shown.status_code == 200
    assert shown.text.count('class="event"') == 2
    assert "&#34;v&#34;: 2" in shown.text  # the failed event's payload, decoded
    assert client.get("/console/parked/probe-rows/probe-2").status_code == 404


def test_skip_all_gives_up_on_every_parked_stream(client: TestClient, home: Path) -> None:
    csrf = sign_in(client, home)
    done = client.post("/console/parked/skip", data={"all": "true", "csrf": csrf})
    assert done.status_code == 200
    assert "skipped 2 events of probe-1 for probe-rows" in done.text
    assert "No parked streams." in done.text
    assert rows(home)["probe-1"] == [1]


def test_redrive_of_a_stream_that_is_not_parked_says_so(client: TestClient, home: Path) -> None:
    csrf = sign_in(client, home)
    done = client.post(
        "/console/parked/redrive", data={"stream": "probe-rows probe-2", "csrf": csrf}
    )
    assert done.status_code == 200
    assert "probe-2 is not parked for probe-rows" in done.text


def test_a_streams_timeline_lists_its_events_and_rows(client: TestClient, home: Path) -> None:
    sign_in(client, home)
    page = client.get("/console/streams", params={"stream": "probe-2"}).text
    assert page.count('class="event"') == 2
    assert "Happened" in page
    unknown = client.get("/console/streams", params={"stream": "probe-404"}).text
    assert "No events in stream probe-404" in unknown


def test_the_audit_finds_the_stream_behind_and_heal_catches_it_up(
    client: TestClient, home: Path
) -> None:
    csrf = sign_in(client, home)
    audited = client.get("/console/audit", params={"subscription": "probe-rows"}).text
    assert 'data-stream="probe-3"' in audited
    assert 'data-stream="probe-1"' in audited  # parked: behind too, left to a redrive
    assert 'data-stream="probe-2"' not in audited
    healed = client.post("/console/audit/heal", data={"subscription": "probe-rows", "csrf": csrf})
    assert "healed probe-rows: 2 events applied" in healed.text
    assert 'data-stream="probe-3"' not in healed.text
    assert rows(home)["probe-3"] == [1, 2]
    unknown = client.get("/console/audit", params={"subscription": "nope"}).text
    assert "no subscription named &#39;nope&#39;" in unknown


def test_every_console_route_needs_an_operator_or_is_public() -> None:
    # The console's own router: an app keeps included routers whole (FastAPI >= 0.16x), so
    # app.routes would not list them.
    console = [r for r in console_routes(new_state()).routes if isinstance(r, APIRoute)]
    assert len(console) >= 12
    for route in console:
        calls = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            calls.add(dependant.call)
            pending.extend(dependant.dependencies)
        public_route = route.path in {"/console", "/console/login", "/console/static/{name}"}
        assert (public in calls) if public_route else (console_session in calls), route.path


def test_the_static_files_are_served_from_the_package(client: TestClient) -> None:
    htmx = client.get("/console/static/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.text.startswith("var htmx=")
    assert client.get("/console/static/../session.py").status_code == 404


def test_eventfold_console_refuses_a_folder_that_is_not_a_home(tmp_path: Path) -> None:
    context = CliContext(environ={"EVENTFOLD_HOME": str(tmp_path / "typo")})
    result = CliRunner().invoke(cli, ["console"], obj=context)
    assert result.exit_code == 1
    assert "no event store at" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_redrive_all_leaves_a_subscription_that_does_not_run_here_parked(
    client: TestClient, home: Path
) -> None:
    store = SqliteEventStore(home / "eventfold.db")
    state = SqliteRouterState(store.path)
    state.park("partner_hook", "probe-2", store.read("probe-2"), "DeliveryFailed: 503")
    state.close()
    store.close()
    csrf = sign_in(client, home)
    assert 'data-subscription="partner_hook"' in client.get("/console/parked").text
    done = client.post("/console/parked/redrive", data={"all": "true", "csrf": csrf}).text
    assert "redrove probe-1 for probe-rows" in done
    assert "subscription &#39;partner_hook&#39; has parked streams but does not run" in done
    assert 'data-subscription="partner_hook"' in done  # still parked, nothing sent


def test_a_router_state_that_cannot_be_opened_yet_does_not_stop_the_app(
    home: Path, token_issuer: TokenIssuer
) -> None:
    settings = load_settings({"EVENTFOLD_HOME": str(home)})
    attempts: list[int] = []

    def flaky_parts() -> RouterParts:
        attempts.append(1)
        if len(attempts) == 1:
            raise StoreUnavailable("the router state is not reachable")
        return router_parts(settings, context.store)

    with service_context(settings) as context:
        state = new_state()
        runner = console_runner(state, [probe_service(home)], context, flaky_parts)
        app = create_app([], context, authentication=token_issuer.authentication, runners=[runner])
        mount_console(app, state)
        with TestClient(app, base_url=ORIGIN, follow_redirects=False) as client:
            token = token_issuer.token("ops-1", "operator")
            client.cookies.set(COOKIE, token)
            page = client.get("/console/parked")  # opens it now: the second attempt
            assert page.status_code == 200, page.text
            assert 'data-stream="probe-1"' in page.text
    assert len(attempts) >= 2
