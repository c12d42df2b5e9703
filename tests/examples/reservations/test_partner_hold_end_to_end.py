"""The partner-hold saga end to end, as ``make run`` serves it: ``eventfold run`` in its
own process with EVENTFOLD_WEBHOOKS naming the partner stub (served here on loopback),
reached over HTTP with tokens from ``eventfold token``.

A reservation the partner refuses ends rejected with the partner's reason, its units are
available again and the customer gets the e-mail; a canceled one leaves no hold at the
partner (its own record of calls says so)."""

from __future__ import annotations

import email
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reservations.partner_stub import PartnerState, Switches, partner_app
from tests.eventfold.entry.http.live import served
from tests.eventfold_run import eventfold_run
from tests.examples.reservations.test_end_to_end import EVENTFOLD
from tests.loopback import free_port
from tests.waiting import eventually


@dataclass
class Served:
    url: str
    mail: Path
    env: dict[str, str]
    partner: PartnerState

    def client(self, role: str, subject: str, *stores: str) -> httpx.Client:
        command = [str(EVENTFOLD), "token", "--role", role, "--subject", subject]
        for store in stores:
            command += ["--store", store]
        minted = subprocess.run(command, env=self.env, capture_output=True, text=True, check=True)
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        return httpx.Client(base_url=self.url, timeout=10, headers=headers)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Served]:
    partner = PartnerState()
    with served(partner_app(partner)) as (host, partner_port):
        port, home = free_port(), tmp_path / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
        env.update(
            PORT=str(port),
            EVENTFOLD_HOME=str(home),
            EVENTFOLD_SERVICES="reservations",
            EVENTFOLD_LOG_LEVEL="warning",
            EVENTFOLD_WEBHOOKS=f"reservations-partner=http://{host}:{partner_port}",
        )
        with eventfold_run(EVENTFOLD, env, tmp_path) as url:
            yield Served(url, home / "mail", env, partner)


def test_a_refused_hold_rejects_releases_and_mails_and_a_cancel_leaves_no_hold(
    running: Served,
) -> None:
    feed = running.client("inventory", "feed-1")
    customer = running.client("customer", "c-7")
    assert feed.put("/stores/s1/stock/sku-1", json={"on_hand": 3}).status_code == 200

    # The partner is sold out: the reservation is rejected with its reason.
    running.partner.switches = Switches(refuse="sold out")
    placed = customer.post("/reservations", json={"store_id": "s1", "sku": "sku-1", "quantity": 2})
    assert placed.status_code == 201, placed.text
    refused = placed.json()["reservation_id"]

    def rejected() -> dict[str, object] | None:
        seen = customer.get(f"/reservations/{refused}").json()
        return seen if seen.get("status") == "rejected" else None

    assert "sold out" in str(eventually("the refused reservation rejected", rejected))
    stock = customer.get("/stores/s1/stock/sku-1", params={"min_version": 3}).json()
    assert (stock["held"], stock["available"]) == (0, 3)
    subjects = eventually(
        "the refusal e-mail",
        lambda: [
            str(m["Subject"])
            for m in (email.message_from_bytes(p.read_bytes()) for p in running.mail.glob("*.eml"))
            if "could not be held" in str(m["Subject"])
        ],
    )
    assert subjects == [f"Reservation {refused} could not be held"]

    # The partner holds the next one; canceling it releases the hold there.
    running.partner.switches = Switches()
    placed = customer.post("/reservations", json={"store_id": "s1", "sku": "sku-1", "quantity": 1})
    kept = placed.json()["reservation_id"]
    holds = eventually(
        "the partner's hold",
        lambda: [h for h in running.partner.holds.values() if h.reservation_id == kept],
    )
    canceled = customer.post(f"/reservations/{kept}/cancel", json={"reason": "changed my mind"})
    assert canceled.status_code == 200, canceled.text
    eventually("the hold released", lambda: holds[0].status == "released")
    assert [h.status for h in running.partner.holds.values()] == ["released"]
    deletes = [c for c in running.partner.calls if c.method == "DELETE" and not c.replay]
    assert [(c.path, c.status) for c in deletes] == [(f"/holds/{holds[0].hold_id}", 204)]
