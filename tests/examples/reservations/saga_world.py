"""The partner-hold saga in one test process, with everything real but the crashes.

A :class:`SagaWorld` is a SQLite event store, a SQLite query database (effects ledger and
deadline index), the partner stub served on loopback (its own record of calls), the real
:class:`~eventfold.workflows.WorkflowRunner` behind a real router, and a clock the test
moves. Crashes are simulated: :class:`Faults` raises :class:`Crash` (a BaseException, which
nothing in eventfold catches) at a chosen point — before or after an append commits, before
or after the partner answers, before the ledger is settled — and the world then abandons its
runner and router and builds new ones from what is stored, as a restarted worker would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from eventfold import CommandHandler, RecordedEvent, SqliteEventStore
from eventfold.core.router.router import Router
from eventfold.router import MemoryRouterState, RetryPolicy, Subscription
from eventfold.sql import SqlEffectsLedger, create_engine, effects_table, sqlite_url
from eventfold.workflows import (
    CallPerformer,
    Instance,
    SqlDeadlineIndex,
    WorkflowCodec,
    WorkflowRunner,
    deadlines_table,
)
from reservations import app
from reservations.domain.partner_hold import MailHoldRefused, partner_hold
from reservations.partner import PartnerClient
from reservations.partner_stub import PartnerState, Switches, partner_app
from reservations.published_language import PROTOBUF_CODEC
from reservations.saga import saga_subscription
from tests.eventfold.entry.http.live import served

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Crash(BaseException):
    """The worker died here (kill -9): nothing after this point ran."""


POINTS = (
    "before append",
    "after append",
    "before call",
    "after call",
    "before ledger settle",
)
"""Where a worker can die (each a window the runner must survive)."""


@dataclass
class Faults:
    """Where the next crashes happen: each time the runner passes the ``aim`` point (any
    point when None) it crashes with probability ``rate``, while ``left`` crashes remain."""

    rng: random.Random
    rate: float = 0.0
    left: int = 0
    aim: str | None = None
    seen: list[str] = field(default_factory=list)

    def point(self, where: str) -> None:
        if self.aim not in (None, where):
            return
        if self.left > 0 and self.rng.random() < self.rate:
            self.left -= 1
            self.seen.append(where)
            raise Crash(where)


class CrashingStore:
    """The event store, dying just before or just after an append commits."""

    def __init__(self, store: SqliteEventStore, faults: Faults) -> None:
        self._store = store
        self._faults = faults

    def append(self, *writes: Any, command_id: str | None = None, fingerprint: str = "") -> Any:
        self._faults.point("before append")
        commit = self._store.append(*writes, command_id=command_id, fingerprint=fingerprint)
        self._faults.point("after append")
        return commit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class CrashingLedger:
    def __init__(self, ledger: SqlEffectsLedger, faults: Faults) -> None:
        self._ledger = ledger
        self._faults = faults

    def done(self, reaction: str, keys: Any) -> set[str]:
        return self._ledger.done(reaction, keys)

    def claim(self, reaction: str, keys: Any) -> set[str]:
        return self._ledger.claim(reaction, keys)

    def settle(self, reaction: str, done: Any, failed: Any = None, released: Any = ()) -> None:
        self._faults.point("before ledger settle")
        self._ledger.settle(reaction, done, failed, released)


def crashing(perform: CallPerformer, faults: Faults) -> CallPerformer:
    def call(request: Any, key: str) -> Any:
        faults.point("before call")
        answer = perform(request, key)
        faults.point("after call")
        return answer

    return call


@dataclass
class SagaWorld:
    store: SqliteEventStore
    engine: Engine
    partner: PartnerState
    partner_url: str
    faults: Faults
    now: datetime = T0
    mails: list[tuple[str, MailHoldRefused]] = field(default_factory=list)
    router_state: MemoryRouterState = field(default_factory=MemoryRouterState)
    restarts: int = 0

    def __post_init__(self) -> None:
        self.handler = app.make_handler(self.store, PROTOBUF_CODEC)
        self.ledger = SqlEffectsLedger(self.engine)
        self.client = PartnerClient(self.partner_url)
        self.start()

    # -- a worker process ----------------------------------------------------------------------
    def start(self) -> None:
        """A new worker: new runner, new router, on the stored state."""
        store = CrashingStore(self.store, self.faults)
        handler = CommandHandler(store, WorkflowCodec(PROTOBUF_CODEC), attempts=app.ATTEMPTS)
        performers = {
            cls: crashing(perform, self.faults) for cls, perform in self.client.performers().items()
        }
        performers[MailHoldRefused] = crashing(self._mail, self.faults)
        self.runner = WorkflowRunner(
            partner_hold,
            handler,
            app.in_session,
            performers,
            CrashingLedger(self.ledger, self.faults),
            SqlDeadlineIndex(self.engine),
            clock=lambda: self.now,
        )
        subscription = saga_subscription(self.runner)
        subscription = Subscription(
            subscription.name,
            subscription.target,
            subscription.filter,
            RetryPolicy(attempts=3),
            subscription.batch_size,
        )
        self.router = Router(
            subscription,
            self.store,
            versions=self.router_state,
            parking=self.router_state,
            sleep=lambda _: None,
        )

    def _mail(self, request: MailHoldRefused, key: str) -> None:
        self.mails.append((key, request))

    def crashed(self) -> None:
        self.restarts += 1
        self.start()

    # -- what the worker does --------------------------------------------------------------------
    def deliver(self, rng: random.Random, duplicates: float = 0.3) -> None:
        """Hand every stored event to the router, shuffled, some twice (a worker that
        crashes is restarted and the delivery goes on)."""
        events: list[RecordedEvent] = list(self.store.scan())
        extra = [e for e in events if rng.random() < duplicates]
        batch = events + extra
        rng.shuffle(batch)
        try:
            self.router.deliver(batch)
        except Crash:
            self.crashed()

    def fire_deadlines(self) -> None:
        try:
            self.runner.fire_due(self.now)
        except Crash:
            self.crashed()

    def redrive_parked(self) -> None:
        for parked in self.router_state.list_parked(self.router.name):
            try:
                self.router.redrive(parked.stream_id)
            except Crash:
                self.crashed()

    def settle_down(self, rng: random.Random, rounds: int = 12) -> None:
        """The partner answers again, no more crashes: deliver and redrive until quiet."""
        self.faults.left = 0
        self.partner.switches = Switches()
        for _ in range(rounds):
            before = self.fingerprint()
            self.deliver(rng, duplicates=0.0)
            self.redrive_parked()
            self.fire_deadlines()
            if self.fingerprint() == before and not self.router_state.list_parked(None):
                return
        raise AssertionError(f"the saga did not settle: parked {self.router_state.list_parked()}")

    def fingerprint(self) -> tuple[int, int]:
        return (sum(1 for _ in self.store.scan()), len(self.partner.calls))

    def instance(self, reservation_id: str) -> Instance:
        return self.runner.instance(reservation_id)[0]

    def instance_events(self, reservation_id: str) -> list[Any]:
        stream = self.runner.decider.stream_id(reservation_id)
        codec = self.runner.handler.codec
        return [codec.decode(e) for e in self.store.read(stream)]


@contextmanager
def saga_world(folder: Path, seed: int = 0) -> Iterator[SagaWorld]:
    """A fresh world in ``folder`` (tables made directly: migrations are tested elsewhere)."""
    partner = PartnerState()
    with (
        served(partner_app(partner)) as (host, port),
        fresh_world(folder, partner, f"http://{host}:{port}", seed) as world,
    ):
        yield world


@contextmanager
def fresh_world(folder: Path, partner: PartnerState, url: str, seed: int) -> Iterator[SagaWorld]:
    store = SqliteEventStore(folder / "events.db", durability="off")
    engine = create_engine(sqlite_url(folder / "query.db"))
    effects_table.metadata.create_all(engine)
    deadlines_table.metadata.create_all(engine)
    world = SagaWorld(store, engine, partner, url, Faults(random.Random(seed)))
    try:
        yield world
    finally:
        world.client.close()
        engine.dispose()
        store.close()


def later(days: int = 8) -> datetime:
    return T0 + timedelta(days=days)


def reservation_ids(count: int) -> Sequence[str]:
    return [f"r{i}" for i in range(count)]
