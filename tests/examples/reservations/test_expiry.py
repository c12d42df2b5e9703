"""The expiry sweep (the service's ``expire-due-reservations`` job) on a real SQLite file:
the query model names the due reservations, the write model expires them once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventfold import CommandHandler, Origin, SqliteEventStore, StoreUnavailable
from eventfold.sql import SqlProjection
from eventfold.web import ServiceContext, migrate_query_model, query_engine
from reservations import app
from reservations.domain.reservation import (
    HOLD_PERIOD,
    Canceler,
    CancelReservation,
    RequestReservation,
    SecureStock,
)
from reservations.domain.stock import SetStockLevel
from reservations.expiry import JOB_NAME, due_query, due_reservations, expiry_job
from reservations.projection import query_model, reservations
from reservations.published_language import PROTOBUF_CODEC
from reservations.service import service

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
DUE = T0 + HOLD_PERIOD + timedelta(minutes=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class World:
    """A store with stock s1/k1, the service's command handler and its query model."""

    def __init__(self, store: SqliteEventStore) -> None:
        self.store = store
        self.context = ServiceContext(store)
        migrate_query_model([service], self.context)
        self.handler: CommandHandler = app.make_handler(store, PROTOBUF_CODEC)
        self.view: SqlProjection = query_model(self.context, PROTOBUF_CODEC)
        app.set_stock_level(self.handler, SetStockLevel("s1", "k1", 10, T0))

    def reserve(self, rid: str, at: datetime = T0) -> None:
        app.request_reservation(self.handler, RequestReservation(rid, "c1", "s1", "k1", 1, at))

    def catch_up(self) -> None:
        self.view.apply(self.store.read_all(0, limit=100_000))

    def event_types(self, rid: str) -> list[str]:
        stream = app.reservation_stream(rid)
        return [e.type for e in self.store.read_all(0, limit=100_000) if e.stream_id == stream]

    def statuses(self) -> dict[str, str]:
        with query_engine(self.context).connect() as conn:
            rows = conn.execute(reservations.select()).all()
        return {row.reservation_id: row.status for row in rows}

    def held(self) -> int:
        return app.stock_of(self.handler, "s1", "k1").held


@pytest.fixture
def world(store: SqliteEventStore) -> World:
    return World(store)


def test_the_service_runs_the_sweep_every_minute_by_default(world: World) -> None:
    [job] = service.jobs(world.context)
    assert (job.name, job.every) == (JOB_NAME, 60.0)


def test_reservations_past_their_hold_expire_and_release_their_stock(world: World) -> None:
    world.reserve("r-accepted")
    world.reserve("r-secured")
    app.secure_stock(world.handler, SecureStock("r-secured", T0))
    world.reserve("r-not-due", at=T0 + timedelta(days=1))
    world.catch_up()
    assert world.held() == 3

    expired = expiry_job(world.context, PROTOBUF_CODEC, clock=Clock(DUE)).run()

    assert expired == ["r-accepted", "r-secured"]
    for rid in expired:
        assert world.event_types(rid)[-1] == "ReservationExpired"
    assert "ReservationExpired" not in world.event_types("r-not-due")
    assert world.held() == 1  # only the reservation not due yet still holds its unit
    world.catch_up()
    assert world.statuses() == {
        "r-accepted": "expired",
        "r-secured": "expired",
        "r-not-due": "accepted",
    }


def test_sweeping_twice_expires_nothing_twice(world: World) -> None:
    world.reserve("r1")
    world.reserve("r2")
    world.catch_up()
    job = expiry_job(world.context, PROTOBUF_CODEC, clock=Clock(DUE))
    assert job.run() == ["r1", "r2"]
    events = len(world.store.read_all(0, limit=100_000))

    # Before the query model caught up (or from a second sweeper): the same command ids.
    assert job.run() == ["r1", "r2"]
    world.catch_up()
    assert job.run() == []

    assert len(world.store.read_all(0, limit=100_000)) == events
    assert world.event_types("r1").count("ReservationExpired") == 1
    assert world.held() == 0


def test_a_reservation_that_moved_on_meanwhile_is_skipped(world: World) -> None:
    world.reserve("r-canceled")
    world.reserve("r-due")
    world.catch_up()  # the query model still shows r-canceled accepted below
    canceled = CancelReservation("r-canceled", Canceler.CUSTOMER, "changed my mind", DUE)
    app.cancel_reservation(world.handler, canceled)

    expired = expiry_job(world.context, PROTOBUF_CODEC, clock=Clock(DUE)).run()

    assert expired == ["r-due"]
    assert "ReservationExpired" not in world.event_types("r-canceled")
    assert world.held() == 0


def test_a_reservation_that_cannot_expire_does_not_hold_up_the_others(world: World) -> None:
    world.reserve("r-blocked")
    world.reserve("r-due", at=T0 + timedelta(minutes=1))
    world.catch_up()
    # In-process code used the sweep's command id for another command (a client cannot: its
    # keys are scoped): expiring r-blocked under it is IdempotencyKeyReused, on every
    # sweep, and it is the oldest due reservation.
    secure = SecureStock("r-blocked", T0)
    taken = Origin(command_id="expire-r-blocked", request_digest="secure")
    app.secure_stock(world.handler, secure, taken)

    expired = expiry_job(world.context, PROTOBUF_CODEC, clock=Clock(DUE)).run()

    assert expired == ["r-due"]
    assert "ReservationExpired" not in world.event_types("r-blocked")
    assert world.event_types("r-due")[-1] == "ReservationExpired"


def test_an_unavailable_store_ends_the_round(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.reserve("r1")
    world.reserve("r2")
    world.catch_up()
    tried: list[str | None] = []

    def unavailable(*_: object, command_id: str | None = None, **__: object) -> None:
        tried.append(command_id)
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(world.store, "append", unavailable)
    job = expiry_job(world.context, PROTOBUF_CODEC, clock=Clock(DUE))

    with pytest.raises(StoreUnavailable):  # the job runner logs it; the next period retries
        job.run()
    assert tried == ["expire-r1"]  # not one failure per due reservation


def test_a_sweep_takes_a_bounded_batch_oldest_first(world: World) -> None:
    world.reserve("r-later", at=T0 + timedelta(minutes=1))
    world.reserve("r-first")
    world.catch_up()
    engine = query_engine(world.context)
    assert due_reservations(engine, DUE) == ["r-first", "r-later"]
    assert due_reservations(engine, DUE, limit=1) == ["r-first"]
    assert due_reservations(engine, T0 + HOLD_PERIOD) == ["r-first"]  # r-later: a minute on


def test_the_due_query_reads_its_index(world: World) -> None:
    engine = query_engine(world.context)
    sql = due_query(DUE).compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))

    assert "ix_reservations_due" in plan
