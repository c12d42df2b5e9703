"""The whole reservation service in one process, as ``make run`` starts it: ``eventfold run``
(command API, query API, in-process router, reactions, local SMTP sink), reached over HTTP.

A reservation made through the command API shows up through the query API — with
``min_version`` the FIRST read already sees it — the customer's e-mails land in the sink
exactly once, and the two partner webhooks are called once each."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.eventfold_run import eventfold_run
from tests.loopback import free_port
from tests.waiting import eventually

EVENTFOLD = Path(sys.executable).parent / "eventfold"


class Partner(BaseHTTPRequestHandler):
    """Records every POST (path, Idempotency-Key, JSON body)."""

    calls: list[tuple[str, str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((self.path, self.headers["Idempotency-Key"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Running:
    url: str
    mail: Path
    partner_calls: list[tuple[str, str, dict[str, Any]]]
    env: dict[str, str]

    def client(self, role: str, subject: str, *stores: str) -> httpx.Client:
        """A client with a token from ``eventfold token``, as the README mints them."""
        command = [str(EVENTFOLD), "token", "--role", role, "--subject", subject]
        for store in stores:
            command += ["--store", store]
        minted = subprocess.run(command, env=self.env, capture_output=True, text=True, check=True)
        token = minted.stdout.strip()
        assert token.count(".") == 2, minted.stdout  # the token alone on stdout
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, timeout=10, headers=headers)

    def mails(self) -> list[Message]:
        return [email.message_from_bytes(p.read_bytes()) for p in sorted(self.mail.glob("*.eml"))]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    calls: list[tuple[str, str, dict[str, Any]]] = []
    partner = HTTPServer(("127.0.0.1", 0), type("P", (Partner,), {"calls": calls}))
    threading.Thread(target=partner.serve_forever, daemon=True).start()
    hooks = f"http://127.0.0.1:{partner.server_port}"
    port, home = free_port(), tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
    env.update(
        PORT=str(port),
        EVENTFOLD_HOME=str(home),
        EVENTFOLD_SERVICES="reservations",
        EVENTFOLD_LOG_LEVEL="warning",
        EVENTFOLD_WEBHOOKS=f"reservations-staff={hooks}/staff,"
        f"reservations-inventory={hooks}/inventory",
    )
    try:
        with eventfold_run(EVENTFOLD, env, tmp_path) as url:
            yield Running(url, home / "mail", calls, env)
    finally:
        partner.shutdown()


def test_a_reservation_is_readable_at_once_and_mailed_exactly_once(running: Running) -> None:
    feed = running.client("inventory", "feed-1")
    api = running.client("customer", "c-42")
    staff = running.client("staff", "clerk-1", "s1")
    assert feed.put("/stores/s1/stock/sku-1", json={"on_hand": 3}).status_code == 200
    placed = api.post("/reservations", json={"store_id": "s1", "sku": "sku-1", "quantity": 2})
    assert placed.status_code == 201, placed.text
    rid, version = placed.json()["reservation_id"], placed.json()["version"]

    first = api.get(f"/reservations/{rid}", params={"min_version": version})
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["version"]) == ("accepted", version)
    mine = api.get("/customers/c-42/reservations", params={"wait_for": rid, "min_version": version})
    assert [r["reservation_id"] for r in mine.json()["items"]] == [rid]
    stock = api.get("/stores/s1/stock/sku-1").json()
    assert (stock["held"], stock["available"]) == (2, 1)

    assert api.post(f"/reservations/{rid}/secure").status_code == 403  # staff's, not hers
    secured = staff.post(f"/reservations/{rid}/secure")
    assert secured.status_code == 200, secured.text
    mails = eventually(
        "both e-mails in the sink", lambda: (m := running.mails()) and len(m) >= 2 and m
    )
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert subjects == [f"Reservation {rid} is ready", f"Reservation {rid} received"]
    assert {str(m["To"]) for m in mails} == {"c-42@customers.example"}

    calls = eventually(
        "both webhooks", lambda: len(running.partner_calls) >= 2 and running.partner_calls
    )
    by_path = {path: (key, body) for path, key, body in calls}
    assert len(calls) == 2
    assert by_path["/staff"][1]["type"] == "secure_stock_requested"
    assert (by_path["/inventory"][1]["sku"], by_path["/inventory"][1]["reserved"]) == ("sku-1", 2)
    assert by_path["/staff"][0] == f"reservations_staff/reservation-{rid}:1/staff_notice"
