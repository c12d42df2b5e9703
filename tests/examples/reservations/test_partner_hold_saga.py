"""The partner-hold saga, in process, through the real runner and router: each path once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from eventfold import SqliteEventStore
from eventfold.web import ServiceContext, migrate_query_model
from eventfold.workflows import Status, StepCompleted
from reservations import app
from reservations.domain.partner_hold import RELEASE_HOLD, WITHDRAW
from reservations.domain.reservation import (
    Canceler,
    CancelReservation,
    CompletePickup,
    RequestReservation,
    SecureStock,
)
from reservations.domain.reservation import Status as ReservationStatus
from reservations.domain.stock import SetStockLevel
from reservations.partner_stub import Switches
from reservations.published_language import PROTOBUF_CODEC
from reservations.saga import JOB_NAME, PARTNER_WEBHOOK, SUBSCRIPTION, saga_jobs, saga_subscriptions
from reservations.service import service
from tests.examples.reservations.saga_world import POINTS, T0, SagaWorld, later, saga_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SagaWorld]:
    with saga_world(tmp_path) as running:
        app.set_stock_level(running.handler, SetStockLevel("s1", "sku-1", 5, T0))
        yield running


def reserve(world: SagaWorld, rid: str, quantity: int = 2) -> None:
    command = RequestReservation(rid, "c-1", "s1", "sku-1", quantity, world.now)
    app.request_reservation(world.handler, command)


def live_holds(world: SagaWorld) -> list[str]:
    return [h.hold_id for h in world.partner.holds.values() if h.status == "held"]


def test_a_refused_hold_rejects_the_reservation_releases_its_stock_and_mails(
    world: SagaWorld,
) -> None:
    world.partner.switches = Switches(refuse="sold out")
    reserve(world, "r1")
    world.deliver(random.Random(1))
    assert app.reservation_of(world.handler, "r1").status is ReservationStatus.REJECTED
    assert app.stock_of(world.handler, "s1", "sku-1").held == 0
    instance = world.instance("r1")
    assert (instance.status, instance.outcome) == (
        Status.COMPENSATED,
        "the partner refused the hold: sold out",
    )
    assert [(m.reservation_id, m.reason) for _, m in world.mails] == [("r1", "sold out")]
    assert live_holds(world) == []


def test_a_canceled_reservation_releases_the_partner_hold_once(world: SagaWorld) -> None:
    reserve(world, "r1")
    world.deliver(random.Random(1))
    assert len(live_holds(world)) == 1
    cancel = CancelReservation("r1", Canceler.CUSTOMER, "changed my mind", world.now)
    app.cancel_reservation(world.handler, cancel)
    world.deliver(random.Random(2))
    world.deliver(random.Random(3))
    assert live_holds(world) == []
    deletes = [c for c in world.partner.calls if c.method == "DELETE" and not c.replay]
    assert len(deletes) == 1
    assert world.instance("r1").status is Status.COMPENSATED


def test_pickup_confirms_the_hold_and_owes_nothing(world: SagaWorld) -> None:
    reserve(world, "r1")
    world.deliver(random.Random(1))
    app.secure_stock(world.handler, SecureStock("r1", world.now))
    app.complete_pickup(world.handler, CompletePickup("r1", world.now))
    world.deliver(random.Random(2))
    assert [h.status for h in world.partner.holds.values()] == ["confirmed"]
    assert world.instance("r1").status is Status.COMPLETED


def test_an_unsecured_reservation_expires_at_the_deadline_compensating_in_reverse(
    world: SagaWorld,
) -> None:
    reserve(world, "r1")
    world.deliver(random.Random(1))
    world.now = later()
    world.fire_deadlines()
    world.deliver(random.Random(2))
    assert app.reservation_of(world.handler, "r1").status is ReservationStatus.EXPIRED
    assert app.stock_of(world.handler, "s1", "sku-1").held == 0
    assert live_holds(world) == []
    events = world.instance_events("r1")
    compensations = [e.step for e in events if isinstance(e, StepCompleted) and e.compensation]
    assert compensations == [RELEASE_HOLD, WITHDRAW]
    world.fire_deadlines()  # once: a second sweep finds nothing due
    assert world.instance("r1").status is Status.COMPENSATED


def test_a_failing_compensation_parks_the_instance_until_redriven(world: SagaWorld) -> None:
    reserve(world, "r1")
    world.deliver(random.Random(1))
    world.partner.switches = Switches(fail=True)
    cancel = CancelReservation("r1", Canceler.CUSTOMER, "changed my mind", world.now)
    app.cancel_reservation(world.handler, cancel)
    world.deliver(random.Random(2))
    # The instance is parked: its own stream and the reservation's (both drive it).
    parked = world.router_state.list_parked()
    assert {p.stream_id for p in parked} == {"reservation-r1", "partnerhold-r1"}
    assert all("503" in p.reason for p in parked)
    attempts = len([c for c in world.partner.calls if c.method == "DELETE"])
    world.deliver(random.Random(3))  # later deliveries wait behind: nothing loops
    assert len([c for c in world.partner.calls if c.method == "DELETE"]) == attempts
    assert world.instance("r1").status is Status.COMPENSATING

    world.partner.switches = Switches()
    world.redrive_parked()
    assert world.router_state.list_parked() == []
    assert live_holds(world) == []
    assert world.instance("r1").status is Status.COMPENSATED
    stream = "partnerhold-r1"
    assert world.ledger.status("partnerhold", f"{stream}/{RELEASE_HOLD}") == ("done", attempts + 1)
    released = [c for c in world.partner.calls if c.method == "DELETE" and c.status == 204]
    assert len(released) == 1


def test_without_the_partner_s_url_the_saga_does_not_run_and_says_which_setting(
    store: SqliteEventStore,
) -> None:
    context = ServiceContext(store)
    with capture_logs() as logs:
        assert saga_subscriptions(context, PROTOBUF_CODEC) == []
        assert saga_jobs(context, PROTOBUF_CODEC) == []
    assert {line["fix"] for line in logs} == {
        "set EVENTFOLD_WEBHOOKS=reservations-partner=https://…"
    }
    configured = ServiceContext(store, webhook_urls={PARTNER_WEBHOOK: "http://127.0.0.1:9"})
    migrate_query_model([service], configured)
    [subscription] = saga_subscriptions(configured, PROTOBUF_CODEC)
    assert subscription.name == SUBSCRIPTION
    assert subscription.filter.categories == {"reservation", "partnerhold"}
    assert [job.name for job in saga_jobs(configured, PROTOBUF_CODEC)] == [JOB_NAME]


def test_a_hold_placed_after_the_deadline_failed_the_saga_is_released_first(
    world: SagaWorld,
) -> None:
    world.partner.switches = Switches(fail=True)
    reserve(world, "r1")
    world.deliver(random.Random(1))  # place_hold fails: parked
    world.now = later()
    world.fire_deadlines()  # fails the saga while place_hold still waits
    assert world.instance("r1").status is Status.COMPENSATING
    world.partner.switches = Switches()
    world.redrive_parked()
    world.deliver(random.Random(2))
    assert world.router_state.list_parked() == []
    assert [h.status for h in world.partner.holds.values()] == ["released"]
    assert app.reservation_of(world.handler, "r1").status is ReservationStatus.EXPIRED
    events = world.instance_events("r1")
    compensations = [e.step for e in events if isinstance(e, StepCompleted) and e.compensation]
    assert compensations == [RELEASE_HOLD, WITHDRAW]


@pytest.mark.parametrize("point", POINTS)
def test_a_worker_dying_in_any_window_places_one_hold_and_settles_its_ledger(
    world: SagaWorld, point: str
) -> None:
    reserve(world, "r1")
    world.faults.left, world.faults.rate, world.faults.aim = 1, 1.0, point
    world.deliver(random.Random(1))
    assert world.faults.seen == [point]  # it died there, and was restarted
    world.deliver(random.Random(2))
    cancel = CancelReservation("r1", Canceler.CUSTOMER, "changed my mind", world.now)
    app.cancel_reservation(world.handler, cancel)
    world.faults.left = 1
    world.deliver(random.Random(3))
    world.settle_down(random.Random(4))
    assert [h.status for h in world.partner.holds.values()] == ["released"]
    for step in ("place_hold", RELEASE_HOLD):
        assert world.ledger.status("partnerhold", f"partnerhold-r1/{step}") is not None
        assert world.ledger.status("partnerhold", f"partnerhold-r1/{step}")[0] == "done"  # type: ignore[index]
    settled = [e.step for e in world.instance_events("r1") if isinstance(e, StepCompleted)]
    assert sorted(settled) == sorted(["place_hold", RELEASE_HOLD])
