"""A property of the reservation service's access control: for random customers, stores,
reservations and callers, nobody reads or changes a reservation the policy does not give
them, and everybody the policy allows gets through.

The oracle below restates docs/security.md's table on its own (it does not call
``reservations.policy``), so a mistake in the policy module shows up as a disagreement."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventfold import SqliteEventStore
from eventfold.sql import SqlProjection
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, migrate_query_model
from reservations import app
from reservations.app import reservation_stream
from reservations.domain.reservation import RequestReservation
from reservations.domain.stock import SetStockLevel
from reservations.projection import query_model
from reservations.published_language import PROTOBUF_CODEC
from reservations.service import service

CUSTOMERS = ["c1", "c2", "c3"]
STORES = ["s1", "s2", "s3"]
ROLES = ["customer", "staff", "support", "inventory", "operator"]
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Caller:
    subject: str
    roles: frozenset[str]
    stores: frozenset[str]


callers = st.builds(
    Caller,
    subject=st.sampled_from([*CUSTOMERS, "clerk", "agent"]),
    roles=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=2),
    stores=st.frozensets(st.sampled_from(STORES), max_size=2),
)
ACTIONS = ["read", "secure", "reject", "pickup", "cancel", "expire", "list mine", "queue"]


def may(caller: Caller, action: str, customer: str, store: str) -> bool:
    """The table of docs/security.md, restated."""
    owner = "customer" in caller.roles and caller.subject == customer
    staff = "staff" in caller.roles and store in caller.stores
    support = "support" in caller.roles
    return {
        "read": owner or staff or support,
        "secure": staff,
        "reject": staff,
        "pickup": staff,
        "cancel": owner or staff or support,
        "expire": support or "operator" in caller.roles,
        "list mine": owner or support,
        "queue": staff or support,
    }[action]


class World:
    def __init__(self, tmp: Path, issuer: TokenIssuer) -> None:
        self.store = SqliteEventStore(tmp / "eventfold.db", durability="off")
        context = ServiceContext(self.store)
        migrate_query_model([service], context)
        self.view: SqlProjection = query_model(context, PROTOBUF_CODEC)
        self.handler = app.make_handler(self.store, PROTOBUF_CODEC)
        self.issuer = issuer
        web = create_app([service], context, authentication=issuer.authentication)
        self.client = TestClient(web)
        for store in STORES:
            app.set_stock_level(self.handler, SetStockLevel(store, "sku", 10**6, NOW))
        self.count = 0

    def reservation(self, customer: str, store: str) -> str:
        self.count += 1
        rid = f"r{self.count}"
        command = RequestReservation(rid, customer, store, "sku", 1, NOW)
        app.request_reservation(self.handler, command)
        self.view.apply(self.store.read(reservation_stream(rid)))
        return rid

    def version(self, rid: str) -> int:
        return len(self.store.read(reservation_stream(rid)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, token_issuer: TokenIssuer) -> Iterator[World]:
    made = World(tmp_path_factory.mktemp("property"), token_issuer)
    with made.client:
        yield made
    made.store.close()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    caller=callers,
    action=st.sampled_from(ACTIONS),
    customer=st.sampled_from(CUSTOMERS),
    store=st.sampled_from(STORES),
)
def test_no_caller_reads_or_changes_what_the_policy_does_not_give_them(
    world: World, caller: Caller, action: str, customer: str, store: str
) -> None:
    rid = world.reservation(customer, store)
    headers = world.issuer.headers(caller.subject, *caller.roles, stores=caller.stores)
    before = world.version(rid)
    http = world.client
    if action == "read":
        response = http.get(f"/reservations/{rid}", headers=headers)
    elif action == "list mine":
        response = http.get(f"/customers/{customer}/reservations", headers=headers)
    elif action == "queue":
        response = http.get(f"/stores/{store}/reservations", headers=headers)
    else:
        body = {"reason": "r"} if action in ("reject", "cancel") else None
        response = http.post(f"/reservations/{rid}/{action}", json=body, headers=headers)
    allowed = may(caller, action, customer, store)
    if allowed:
        # Through the policy: the route's own answer (expire before the deadline is 409).
        assert response.status_code in (200, 409), (caller, action, response.text)
    else:
        assert response.status_code in (403, 404), (caller, action, response.text)
        assert world.version(rid) == before  # nothing changed
        assert '"customer_id"' not in response.text  # and nothing of it was shown
    if action == "read" and not allowed:
        assert response.status_code == 404  # hidden exactly like an unknown id
