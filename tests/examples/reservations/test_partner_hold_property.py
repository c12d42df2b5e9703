"""Property: whatever the partner answers, however events are delivered and wherever the
worker dies, the partner-hold saga leaves nothing held that should not be.

Each example runs a random program on a fresh world (:mod:`saga_world`: SQLite store and
query database, the partner stub on loopback, the real runner behind a real router):
reservations made, secured, canceled, rejected, picked up and expired; the partner
switched to refusing (409 sold out), failing (503) or answering; deliveries of every stored
event shuffled with duplicates; the clock moved past the hold deadline and the deadline job
run; crashes armed at random points (before/after an append commits, before/after the
partner answers, before the ledger is settled), after which the worker is rebuilt from
what is stored. Then the partner answers again and the world settles (deliveries, redrives
of parked streams, deadline sweeps) and the invariants are checked against the event store,
the partner's own record of calls and holds, and the effects ledger. Last, a replay of
every event from scratch (a fresh router state) must change nothing anywhere.

``EVENTFOLD_SAGA_EXAMPLES`` sets the number of examples (default 300, ~20 s; 1000 take
~60 s).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eventfold import EventfoldError, Origin
from eventfold.core.app.handler import fingerprint
from eventfold.router import MemoryRouterState
from eventfold.workflows import Status, StepCompleted, StepRefused
from reservations import app
from reservations.domain.partner_hold import (
    CATEGORY,
    CONFIRM_HOLD,
    MAIL_REFUSED,
    PLACE_HOLD,
    RELEASE_HOLD,
    WITHDRAW,
)
from reservations.domain.reservation import (
    Canceler,
    CancelReservation,
    CompletePickup,
    ExpireReservation,
    RejectReservation,
    RequestReservation,
    SecureStock,
)
from reservations.domain.reservation import Status as Res
from reservations.domain.stock import SetStockLevel
from reservations.partner_stub import PartnerState, Switches, partner_app
from tests.eventfold.entry.http.live import served
from tests.examples.reservations.saga_world import (
    POINTS,
    T0,
    SagaWorld,
    fresh_world,
    later,
)

EXAMPLES = int(os.environ.get("EVENTFOLD_SAGA_EXAMPLES", "300"))
RESERVATIONS = 3
CALLS = (PLACE_HOLD, RELEASE_HOLD, CONFIRM_HOLD, MAIL_REFUSED)

index = st.integers(0, RESERVATIONS - 1)
operation = st.one_of(
    st.tuples(st.just("reserve"), index),
    st.tuples(st.sampled_from(["secure", "cancel", "reject", "pickup", "expire"]), index),
    st.tuples(st.just("partner"), st.integers(0, 2)),
    st.tuples(st.just("deliver"), st.integers(0, 2**16)),
    st.tuples(st.just("deliver"), st.integers(0, 2**16)),
    st.tuples(st.just("time"), st.just(0)),
    st.tuples(st.just("crash"), st.integers(0, 3 * len(POINTS))),
    st.tuples(st.just("crash"), st.integers(0, 3 * len(POINTS))),
)


@pytest.fixture(scope="module")
def partner() -> Iterator[tuple[PartnerState, str]]:
    state = PartnerState()
    with served(partner_app(state)) as (host, port):
        yield state, f"http://{host}:{port}"


def run(world: SagaWorld, op: str, arg: int) -> None:
    rid, now, h = f"r{arg}", world.now, world.handler
    commands: dict[str, Callable[[], object]] = {
        "reserve": lambda: app.request_reservation(
            h, RequestReservation(rid, "c-1", "s1", "sku-1", 1, now)
        ),
        "secure": lambda: app.secure_stock(h, SecureStock(rid, now)),
        "cancel": lambda: app.cancel_reservation(
            h, CancelReservation(rid, Canceler.CUSTOMER, "changed my mind", now)
        ),
        "reject": lambda: app.reject_reservation(h, RejectReservation(rid, "damaged", now)),
        "pickup": lambda: app.complete_pickup(h, CompletePickup(rid, now)),
        "expire": lambda: app.expire_reservation(  # as the expiry job sends it
            h,
            ExpireReservation(rid, now),
            Origin(command_id=f"expire-{rid}", request_digest=fingerprint("expire", rid)),
        ),
    }
    if op in commands:
        with suppress(EventfoldError):  # refused by the domain: a program may ask anything
            commands[op]()
    elif op == "partner":
        modes = {"answer": Switches(), "refuse": Switches(refuse="sold out")}
        world.partner.switches = modes.get(["answer", "refuse", "fail"][arg], Switches(fail=True))
    elif op == "deliver":
        world.deliver(random.Random(arg))
    elif op == "time":
        world.now = later()
        world.fire_deadlines()
    elif op == "crash":  # 1 to 3 crashes, aimed at one point or at any
        aims = (None, *POINTS)
        world.faults.left, world.faults.rate = 1 + arg % 3, 0.5
        world.faults.aim = aims[arg // 3 % len(aims)]


def check(world: SagaWorld) -> None:
    h, partner = world.handler, world.partner
    assert not world.router_state.list_parked(), world.router_state.list_parked()
    holding = 0
    for i in range(RESERVATIONS):
        rid = f"r{i}"
        reservation = app.reservation_of(h, rid)
        if reservation.status is Res.NEW:
            continue
        holding += reservation.quantity if reservation.holds_stock else 0
        instance = world.instance(rid)
        events = world.instance_events(rid)
        holds = [x for x in partner.holds.values() if x.reservation_id == rid]
        why = f"{rid}: {reservation.status} {instance} {holds} {world.faults.seen}"
        assert not instance.pending, why
        assert len(holds) <= 1, why  # placed once, whatever the retries
        if reservation.holds_stock:
            assert instance.status is Status.RUNNING, why
        elif reservation.status is Res.PICKED_UP:
            assert instance.status in (Status.COMPLETED, Status.COMPENSATED), why
        else:
            assert instance.status is Status.COMPENSATED, why
            assert all(x.status != "held" for x in holds), why  # 0 holds left at the partner
        refused = instance.outcome.startswith("the partner refused")
        if refused or "deadline" in instance.outcome:
            assert not reservation.holds_stock, why  # 0 reservations holding stock
        if refused and reservation.status is not Res.PICKED_UP:
            assert reservation.status in (Res.REJECTED, Res.CANCELED, Res.EXPIRED), why
        # every step (compensations included) settled exactly once, in the instance stream
        settled = Counter(e.step for e in events if isinstance(e, StepCompleted | StepRefused))
        assert all(n == 1 for n in settled.values()), (settled, why)
        assert set(settled) == set(instance.steps_run), why
        compensations = [
            e.step for e in events if isinstance(e, StepCompleted | StepRefused) and e.compensation
        ]
        if RELEASE_HOLD in compensations and WITHDRAW in compensations:
            assert compensations.index(RELEASE_HOLD) < compensations.index(WITHDRAW), why
        # ... and each call done once in the effects ledger
        stream = f"{CATEGORY}-{rid}"
        for step in settled:
            if step in CALLS:
                status = world.ledger.status(CATEGORY, f"{stream}/{step}")
                assert status is not None, (step, why)
                assert status[0] == "done", (step, status, why)
        # the partner's own record: each hold released at most once, and released iff its
        # status says so; a refusal e-mailed once
        for x in holds:
            deletes = [
                c
                for c in partner.calls
                if c.method == "DELETE"
                and c.hold_id == x.hold_id
                and not c.replay
                and c.status == 204
            ]
            assert len(deletes) == (1 if x.status == "released" else 0), (deletes, why)
        mails = {key for key, mail in world.mails if mail.reservation_id == rid}
        assert len(mails) == (1 if MAIL_REFUSED in settled else 0), why
    assert app.stock_of(h, "s1", "sku-1").held == holding


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mode=st.integers(0, 2),
    program=st.lists(operation, min_size=1, max_size=16),
    seed=st.integers(0, 2**16),
)
def test_the_saga_leaves_nothing_held_that_should_not_be(
    partner: tuple[PartnerState, str], mode: int, program: list[tuple[str, int]], seed: int
) -> None:
    state, url = partner
    state.holds.clear()
    state.calls.clear()
    state.answers.clear()
    state.switches = Switches()
    with TemporaryDirectory() as folder, fresh_world(Path(folder), state, url, seed) as world:
        app.set_stock_level(world.handler, SetStockLevel("s1", "sku-1", 5, T0))
        run(world, "partner", mode)  # how the partner starts: answering, refusing, failing
        for op, arg in [("reserve", 0), *program]:
            run(world, op, arg)
        parked_before = bool(world.router_state.list_parked())
        world.settle_down(random.Random(seed))
        check(world)
        outcomes = {world.instance(f"r{i}").outcome.split(":")[0] for i in range(RESERVATIONS)}
        event(f"worker died: {world.restarts > 0}")
        event(f"parked before settling: {parked_before}")
        for outcome in outcomes - {""}:
            event(f"an instance ended: {outcome}")
        # A replay of everything from scratch (a rebuild) changes nothing anywhere.
        before = world.fingerprint()
        world.router_state = MemoryRouterState()
        world.start()
        world.deliver(random.Random(seed + 1))
        assert world.fingerprint() == before
        check(world)
