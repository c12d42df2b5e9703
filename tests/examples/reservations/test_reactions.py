"""Which reactions run: a partner webhook that is not configured is not subscribed (so
nothing is sent and nothing recorded as done), and says which setting is missing."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from eventfold import SqliteEventStore
from eventfold.web import ServiceContext, migrate_query_model
from reservations.published_language import PROTOBUF_CODEC
from reservations.reactions import reaction_subscriptions
from reservations.service import service

PARTNERS = {
    "reservations-staff": "http://127.0.0.1:9/staff",
    "reservations-inventory": "http://127.0.0.1:9/inventory",
}


@pytest.mark.parametrize(
    ("configured", "running"),
    [
        ({}, ["reservations_mail"]),
        (
            {"reservations-staff": PARTNERS["reservations-staff"]},
            ["reservations_mail", "reservations_staff"],
        ),
        (PARTNERS, ["reservations_mail", "reservations_staff", "reservations_inventory"]),
    ],
)
def test_an_unconfigured_partner_is_not_subscribed_and_says_which_setting(
    store: SqliteEventStore, configured: dict[str, str], running: list[str]
) -> None:
    context = ServiceContext(store, webhook_urls=configured)
    migrate_query_model([service], context)
    with capture_logs() as logs:
        names = [s.name for s in reaction_subscriptions(context, PROTOBUF_CODEC)]
    assert names == running
    missing = {line["subscription"]: line["fix"] for line in logs}
    assert set(missing) == {"reservations_staff", "reservations_inventory"} - set(running)
    for name, fix in missing.items():
        assert fix.startswith(f"set EVENTFOLD_WEBHOOKS={name.replace('_', '-')}=")
