"""No secret in logs or stored reasons: a webhook with credentials in its URL and a bearer
token fails; neither the log lines nor ``eventfold parked list|show`` show them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.core.router.router import Router
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.entry.service import Service
from eventfold.entry.telemetry import Telemetry
from eventfold.sql import SqlEffectsLedger, create_engine, migrate
from eventfold.targets import WebhookSender, webhook_target
from tests.contracts.target import CODEC, ticks
from tests.eventfold.entry.router_probe import probe_service

PASSWORD = "pa55-secret"
TOKEN = "tok-secret-123"


@pytest.fixture
def refusing_partner() -> Iterator[int]:
    """A partner answering 401 and echoing the Authorization header it got (as some do)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = f"refused Authorization: {self.headers.get('Authorization')}".encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_failing_authenticated_webhook_leaks_no_secret(
    tmp_path: Path,
    refusing_partner: int,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = SqliteEventStore(tmp_path / "eventfold.db")
    engine = create_engine(f"sqlite:///{tmp_path / 'effects.db'}")
    migrate(engine)
    url = f"http://partner:{PASSWORD}@127.0.0.1:{refusing_partner}/hook?token={TOKEN}"
    sender = WebhookSender(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    hook = webhook_target("probe-rows", CODEC, sender, SqlEffectsLedger(engine))
    state = SqliteRouterState(store.path)
    router = Router(
        Subscription("probe-rows", hook), store, versions=state, parking=state, observer=Telemetry()
    )
    report = router.deliver(ticks("tick-a", 1, 2))
    state.close()
    sender.close()
    engine.dispose()
    store.close()
    assert report.parked == [("tick-a", 1), ("tick-a", 2)]  # the partner refused

    def invoke(*args: str) -> str:
        def services(_: Sequence[str]) -> list[Service]:
            return [probe_service(tmp_path)]

        context = CliContext(environ={"EVENTFOLD_HOME": str(tmp_path)}, load_services=services)
        result = CliRunner().invoke(app, list(args), obj=context, env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        return result.output

    listed = invoke("parked", "list")
    shown = invoke("parked", "show", "probe-rows", "tick-a")
    logged = capsys.readouterr()
    assert "answered 401" in shown  # the reason is there, masked
    for text in (listed, shown, logged.out, logged.err, caplog.text):
        assert PASSWORD not in text
        assert TOKEN not in text
    stored = SqliteRouterState(tmp_path / "eventfold.db")
    reasons = [p.reason for p in stored.list_parked("probe-rows")]
    stored.close()
    assert reasons
    assert not any(PASSWORD in r or TOKEN in r for r in reasons)
