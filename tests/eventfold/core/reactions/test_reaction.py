"""The reaction's batches: one ledger read and two ledger transactions per batch, what a
failure in the middle of a batch leaves in the ledger, and how it meets the router's
retry/park rules (the failing stream parks alone; no other stream's effect repeats)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from eventfold import DeliveryFailed, SqliteEventStore
from eventfold.core.reactions.effects import NotAttempted
from eventfold.core.router.ports import RetryPolicy, Subscription
from eventfold.core.router.router import Router
from eventfold.router import MemoryRouterState
from eventfold.targets import Email, MemoryEffectsLedger, Reaction, WebhookCall
from tests.contracts.target import CODEC, Tick, interleave, ticks


class CountingLedger(MemoryEffectsLedger):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def done(self, reaction: str, keys: Collection[str]) -> set[str]:
        self.calls["done"] += 1
        return super().done(reaction, keys)

    def claim(self, reaction: str, keys: Collection[str]) -> set[str]:
        self.calls["claim"] += 1
        return super().claim(reaction, keys)

    def settle(
        self,
        reaction: str,
        done: Collection[str],
        failed: Mapping[str, str] | None = None,
        released: Collection[str] = (),
    ) -> None:
        self.calls["settle"] += 1
        super().settle(reaction, done, failed, released)


class Mailer:
    """Records what it sends; fails for the streams in ``failing``; counts sessions."""

    def __init__(self, failing: Mapping[str, DeliveryFailed] | None = None) -> None:
        self.sent: list[str] = []
        self.failing = dict(failing or {})
        self.sessions = 0
        self.open = 0
        self._lock = threading.Lock()

    def __call__(self, email: Email, idempotency_key: str) -> None:
        stream = email.subject.split(":")[0]
        if stream in self.failing:
            raise self.failing[stream]
        self.sent.append(email.subject)

    @contextmanager
    def session(self) -> Iterator[None]:
        with self._lock:
            self.sessions += 1
            self.open += 1
        try:
            yield
        finally:
            with self._lock:
                self.open -= 1


class ManyMailer(Mailer):
    """A Mailer that also takes several e-mails at once (a ``ManyPerformer``), recording
    each run it was handed."""

    def __init__(self, failing: Mapping[str, DeliveryFailed] | None = None) -> None:
        super().__init__(failing)
        self.runs: list[list[str]] = []

    def perform_many(self, effects: Sequence[tuple[Email, str]]) -> list[Exception | None]:
        self.runs.append([email.subject for email, _ in effects])
        outcomes: list[Exception | None] = []
        for email, key in effects:
            try:
                self(email, key)
            except DeliveryFailed as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes


def notify(event: Tick, recorded: Any) -> list[Email]:
    return [Email("notice", ("ops@example.test",), recorded.key, f"tick {event.n}")]


def reaction(mailer: Mailer, ledger: MemoryEffectsLedger) -> Reaction:
    return Reaction("mails", CODEC, {Tick: notify}, {Email: mailer}, ledger)


def test_a_batch_costs_two_ledger_transactions() -> None:
    ledger, mailer = CountingLedger(), Mailer()
    target = reaction(mailer, ledger)
    target.apply(interleave(ticks("tick-a", 1, 50), ticks("tick-b", 1, 50)))
    assert ledger.calls == {"claim": 1, "settle": 1}  # the claim says what is done already
    assert len(mailer.sent) == 100
    assert mailer.sessions == 1
    assert mailer.open == 0
    target.apply(ticks("tick-a", 1, 50))  # all done: one claim that claims nothing
    assert ledger.calls == {"claim": 2, "settle": 1}
    assert mailer.sessions == 1


def test_a_failure_mid_batch_settles_what_was_done_and_releases_the_rest() -> None:
    ledger = MemoryEffectsLedger()
    mailer = Mailer({"tick-b": DeliveryFailed("SMTP 451 try later")})
    target = reaction(mailer, ledger)
    with pytest.raises(DeliveryFailed, match="451"):
        target.apply([*ticks("tick-a", 1, 1), *ticks("tick-b", 1, 1), *ticks("tick-c", 1, 1)])
    assert mailer.sent == ["tick-a:1"]
    assert ledger.status("mails", "tick-a:1/notice") == ("done", 1)
    assert ledger.status("mails", "tick-b:1/notice") == ("pending", 1)
    assert "451" in (ledger.last_error("mails", "tick-b:1/notice") or "")
    assert ledger.status("mails", "tick-c:1/notice") is None  # never attempted: released
    assert mailer.open == 0


def test_a_missing_performer_parks_before_anything_is_claimed() -> None:
    ledger = MemoryEffectsLedger()

    def both(event: Tick, recorded: Any) -> list[Any]:
        return [*notify(event, recorded), WebhookCall("hook", b"{}", "application/json")]

    target = Reaction("mails", CODEC, {Tick: both}, {Email: Mailer()}, ledger)
    with pytest.raises(DeliveryFailed, match="no performer for WebhookCall") as failure:
        target.apply(ticks("tick-a", 1, 1))
    assert failure.value.retryable is False
    assert ledger.status("mails", "tick-a:1/notice") is None


def test_effects_sharing_a_key_park_the_stream_before_anything_is_claimed() -> None:
    def twice(event: Tick, recorded: Any) -> list[Email]:
        return notify(event, recorded) * 2

    ledger, mailer = MemoryEffectsLedger(), Mailer()
    target = Reaction("mails", CODEC, {Tick: twice}, {Email: mailer}, ledger)
    with pytest.raises(DeliveryFailed, match="share a key") as failure:
        target.apply(ticks("tick-a", 1, 1))
    assert failure.value.retryable is False
    # One ledger row cannot stand for two effects: neither may be sent or claimed.
    assert mailer.sent == []
    assert ledger.status("mails", "tick-a:1/notice") is None


@pytest.mark.parametrize("many", [False, True], ids=["one-at-a-time", "many-at-once"])
@pytest.mark.parametrize("retryable", [True, False])
def test_through_the_router_the_failing_stream_parks_alone_and_nothing_repeats(
    store: SqliteEventStore, retryable: bool, many: bool
) -> None:
    ledger = MemoryEffectsLedger()
    failing = {"tick-b": DeliveryFailed("refused", retryable=retryable)}
    mailer = ManyMailer(failing) if many else Mailer(failing)
    subscription = Subscription(
        "mails",
        reaction(mailer, ledger),
        retry=RetryPolicy(attempts=3, base_delay=0),
    )
    state = MemoryRouterState()
    router = Router(subscription, store, versions=state, parking=state, sleep=lambda _: None)
    batch = interleave(ticks("tick-a", 1, 3), ticks("tick-b", 1, 3), ticks("tick-c", 1, 3))
    report = router.deliver(batch)
    assert report.parked == [("tick-b", 1), ("tick-b", 2), ("tick-b", 3)]
    assert state.parked_streams("mails") == {"tick-b"}
    assert Counter(mailer.sent) == Counter(
        f"{s}:{v}" for s in ("tick-a", "tick-c") for v in (1, 2, 3)
    )  # each once: the effects done before the failure were not redone
    assert ledger.status("mails", "tick-a:1/notice") == ("done", 1)
    # attempted once in the batch, then alone (RetryPolicy.attempts times, or once)
    assert ledger.status("mails", "tick-b:1/notice") == ("pending", 4 if retryable else 2)
    assert ledger.status("mails", "tick-b:2/notice") is None  # waits, parked, never tried
    # redelivery of the same batch: no effect repeats, b stays parked
    router.deliver(batch)
    assert len(mailer.sent) == 6
    # the partner is back: a redrive performs b's effects once, in order
    mailer.failing.clear()
    router.redrive("tick-b")
    assert mailer.sent[6:] == ["tick-b:1", "tick-b:2", "tick-b:3"]
    assert state.parked_streams("mails") == set()


def test_a_batch_is_performed_in_order_in_one_session_and_settled_once() -> None:
    ledger, mailer = CountingLedger(), Mailer()
    target = reaction(mailer, ledger)
    batch = interleave(*(ticks(f"tick-{n}", 1, 5) for n in range(10)))
    target.apply(batch)
    assert ledger.calls == {"claim": 1, "settle": 1}
    assert mailer.sent == [e.key for e in batch]
    assert mailer.sessions == 1
    assert mailer.open == 0


def test_a_failure_stops_the_batch_and_leaves_an_exact_ledger() -> None:
    ledger = MemoryEffectsLedger()
    mailer = Mailer({"tick-3": DeliveryFailed("SMTP 451")})
    target = reaction(mailer, ledger)
    batch = interleave(*(ticks(f"tick-{n}", 1, 20) for n in range(6)))
    with pytest.raises(DeliveryFailed, match="451"):
        target.apply(batch)
    sent = set(mailer.sent)
    assert mailer.sent == [e.key for e in batch][: len(mailer.sent)]  # in order, up to it
    assert not any(m.startswith("tick-3:") for m in sent)
    for event in batch:
        status = ledger.status("mails", f"{event.key}/notice")
        if event.key in sent:
            assert status == ("done", 1)
        elif event.key == "tick-3:1":
            assert status == ("pending", 1)
        else:
            assert status is None  # never attempted: the claim was taken back
    with pytest.raises(DeliveryFailed):  # again: still failing, nothing done repeats
        target.apply(batch)
    assert len(mailer.sent) == len(set(mailer.sent))
    mailer.failing.clear()
    target.apply(batch)
    assert sorted(mailer.sent) == sorted(e.key for e in batch)


def test_a_many_performer_gets_each_wave_of_distinct_streams_at_once() -> None:
    ledger, mailer = CountingLedger(), ManyMailer()
    target = reaction(mailer, ledger)
    # stream by stream, as the router hands a batch over
    batch = [e for n in range(3) for e in ticks(f"tick-{n}", 1, 2)]
    target.apply(batch)
    assert mailer.runs == [
        ["tick-0:1", "tick-1:1", "tick-2:1"],
        ["tick-0:2", "tick-1:2", "tick-2:2"],  # a stream's next effect: in the next wave
    ]
    assert sorted(mailer.sent) == sorted(e.key for e in batch)
    assert ledger.calls == {"claim": 1, "settle": 1}
    target.apply(ticks("tick-9", 1, 3))  # one stream: one effect at a time, in order
    assert len(mailer.runs) == 2
    assert mailer.sent[-3:] == ["tick-9:1", "tick-9:2", "tick-9:3"]


def test_a_failure_in_a_run_settles_the_run_and_starts_no_other() -> None:
    ledger = MemoryEffectsLedger()
    mailer = ManyMailer({"tick-1": DeliveryFailed("partner 503")})
    target = reaction(mailer, ledger)
    batch = interleave(*(ticks(f"tick-{n}", 1, 2) for n in range(3)))
    with pytest.raises(DeliveryFailed, match="503"):
        target.apply(batch)
    assert mailer.runs == [["tick-0:1", "tick-1:1", "tick-2:1"]]
    assert mailer.sent == ["tick-0:1", "tick-2:1"]  # started with the failing one
    assert ledger.status("mails", "tick-0:1/notice") == ("done", 1)
    assert ledger.status("mails", "tick-2:1/notice") == ("done", 1)
    assert ledger.status("mails", "tick-1:1/notice") == ("pending", 1)
    assert "503" in (ledger.last_error("mails", "tick-1:1/notice") or "")
    for n in range(3):  # the next run was never started: its claims were taken back
        assert ledger.status("mails", f"tick-{n}:2/notice") is None


def test_a_many_performer_that_raises_leaves_its_whole_run_attempted() -> None:
    class Broken(ManyMailer):
        def perform_many(self, effects: Sequence[tuple[Email, str]]) -> list[Exception | None]:
            self.sent.append(effects[0][0].subject)  # it got as far as sending one
            raise RuntimeError("performer bug")

    ledger, mailer = MemoryEffectsLedger(), Broken()
    target = reaction(mailer, ledger)
    with pytest.raises(RuntimeError, match="performer bug"):
        target.apply([*ticks("tick-a", 1, 1), *ticks("tick-b", 1, 1)])
    # any of them may have happened: each counts an attempt, none is taken back
    for stream in ("tick-a", "tick-b"):
        assert ledger.status("mails", f"{stream}:1/notice") == ("pending", 1)
        assert "performer bug" in (ledger.last_error("mails", f"{stream}:1/notice") or "")


def test_effects_a_many_performer_never_started_are_taken_back() -> None:
    class StopsAfterFirst(ManyMailer):
        def perform_many(self, effects: Sequence[tuple[Email, str]]) -> list[Exception | None]:
            first = DeliveryFailed("partner down")
            return [first, *(NotAttempted("not sent") for _ in effects[1:])]

    ledger, mailer = MemoryEffectsLedger(), StopsAfterFirst()
    target = reaction(mailer, ledger)
    with pytest.raises(DeliveryFailed, match="partner down"):
        target.apply([*ticks("tick-a", 1, 1), *ticks("tick-b", 1, 1), *ticks("tick-c", 1, 1)])
    assert ledger.status("mails", "tick-a:1/notice") == ("pending", 1)
    assert ledger.status("mails", "tick-b:1/notice") is None  # never sent: released
    assert ledger.status("mails", "tick-c:1/notice") is None
