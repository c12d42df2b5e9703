"""The instance decider every workflow runs on: starting, owing, failing (compensations in
reverse order, each once), finishing, deadlines; and the given/when/then helper."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from eventfold.domain.workflow import Observe, ReachDeadline, Settle
from eventfold.testing import workflow_spec
from eventfold.workflows import (
    Action,
    Call,
    ClearDeadline,
    DeadlineReached,
    Fail,
    Finish,
    Forgive,
    Instance,
    Owe,
    Send,
    SetDeadline,
    Status,
    StepCompleted,
    StepRefused,
    Workflow,
    WorkflowAdvanced,
    instance_decider,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Ordered:
    order_id: str
    at: datetime


@dataclass(frozen=True)
class Shipped:
    order_id: str


@dataclass(frozen=True)
class Charge:
    order_id: str


@dataclass(frozen=True)
class Refund:
    order_id: str


@dataclass(frozen=True)
class Reserve:
    order_id: str


@dataclass(frozen=True)
class Unreserve:
    order_id: str


@dataclass(frozen=True)
class Trip:
    order_id: str = ""
    charged: bool = False


def evolve(state: Trip, event: object) -> Trip:
    match event:
        case Ordered():
            return Trip(event.order_id)
        case StepCompleted(step="charge"):
            return replace(state, charged=True)
    return state


def react(state: Trip, event: object) -> Sequence[Action]:
    oid = state.order_id
    match event:
        case Ordered():
            return [
                Owe(Send("unreserve", Unreserve(oid))),
                Send("reserve", Reserve(oid)),
                Call("charge", Charge(oid)),
                SetDeadline("ship_by", event.at + timedelta(days=1)),
            ]
        case StepCompleted(step="charge"):
            return [Owe(Call("refund", Refund(oid)))]
        case StepRefused(step="charge", reason=reason):
            return [Fail(f"charge refused: {reason}")]
        case Shipped():
            return [ClearDeadline("ship_by"), Forgive("refund"), Finish("shipped")]
        case DeadlineReached():
            return [Fail("not shipped in time")]
    return []


trip = Workflow(
    category="trip",
    initial_state=Trip(),
    starts=lambda e: isinstance(e, Ordered),
    correlate=lambda e: getattr(e, "order_id", None),
    evolve=evolve,
    react=react,
    payloads=(Charge, Refund, Reserve, Unreserve),
)
decider = instance_decider(trip)


def run(inst: Instance, command: object) -> tuple[Instance, list[object]]:
    events = list(decider.decide(command, inst))  # type: ignore[arg-type]
    return decider.fold_events(events, inst), events


def started() -> Instance:
    inst, events = run(Instance(), Observe(Ordered("o1", T0), "order-o1:1"))
    assert [type(e).__name__ for e in events] == [
        "WorkflowStarted",
        "EventObserved",
        "WorkflowAdvanced",
    ]
    return inst


def test_a_start_plans_the_steps_in_order_and_records_what_is_owed() -> None:
    inst = started()
    assert inst.status is Status.RUNNING
    assert [s.key for s in inst.pending] == ["reserve", "charge"]
    assert [s.key for s in inst.owed] == ["unreserve"]
    assert inst.deadlines == {"ship_by": T0 + timedelta(days=1)}


def test_an_event_that_does_not_start_it_starts_nothing() -> None:
    assert run(Instance(), Observe(Shipped("o1"), "order-o1:2"))[1] == []


def test_a_failed_step_runs_the_compensations_owed_in_reverse_order_each_once() -> None:
    inst, _ = run(started(), Settle("reserve", T0))
    inst, _ = run(inst, Settle("charge", T0, result={"id": "c1"}))
    assert [s.key for s in inst.owed] == ["unreserve", "refund"]
    inst, _ = run(inst, ReachDeadline("ship_by", T0 + timedelta(days=2)))
    assert inst.status is Status.COMPENSATING
    assert [s.key for s in inst.pending] == ["refund", "unreserve"]
    assert inst.deadlines == {}
    inst, _ = run(inst, Settle("refund", T0))
    assert run(inst, Settle("refund", T0))[1] == []  # a retry settles nothing again
    inst, _ = run(inst, Settle("unreserve", T0, refusal="already gone"))
    assert (inst.status, inst.outcome, inst.pending) == (
        Status.COMPENSATED,
        "not shipped in time",
        (),
    )
    assert inst.ended


def test_a_compensation_owed_after_the_failure_runs_before_the_earlier_ones() -> None:
    inst, _ = run(started(), Settle("reserve", T0))
    inst, _ = run(inst, ReachDeadline("ship_by", T0 + timedelta(days=2)))
    assert [s.key for s in inst.pending] == ["charge", "unreserve"]
    inst, _ = run(inst, Settle("charge", T0, result={}))  # the charge went through after all
    assert [s.key for s in inst.pending] == ["refund", "unreserve"]


def test_a_refusal_fails_the_workflow() -> None:
    inst, events = run(started(), Settle("charge", T0, refusal="card declined"))
    assert isinstance(events[0], StepRefused)
    assert isinstance(events[1], WorkflowAdvanced)
    assert inst.outcome == "charge refused: card declined"
    assert [s.key for s in inst.pending] == ["reserve", "unreserve"]


def test_finish_forgives_what_is_owed_and_later_events_are_ignored() -> None:
    inst, _ = run(started(), Settle("charge", T0, result={}))
    inst, _ = run(inst, Observe(Shipped("o1"), "order-o1:2"))
    assert (inst.status, inst.owed, inst.deadlines) == (Status.COMPLETED, (), {})
    assert run(inst, Observe(Shipped("o1"), "order-o1:3"))[1] == []
    assert run(inst, ReachDeadline("ship_by", T0 + timedelta(days=2)))[1] == []


def test_a_deadline_fires_only_when_due_and_set() -> None:
    assert run(started(), ReachDeadline("ship_by", T0))[1] == []
    assert run(started(), ReachDeadline("other", T0 + timedelta(days=9)))[1] == []


def test_a_step_key_used_twice_is_a_mistake_in_the_definition() -> None:
    twice = replace(trip, react=lambda s, e: [Send("x", Reserve("o")), Send("x", Reserve("o"))])
    with pytest.raises(ValueError, match="used twice"):
        instance_decider(twice).decide(Observe(Ordered("o1", T0), "k"), Instance())


def test_workflow_spec_checks_the_actions_of_one_event() -> None:
    state = (
        workflow_spec(trip)
        .given(Ordered("o1", T0))
        .when(StepCompleted("charge", {}, T0))
        .then(Owe(Call("refund", Refund("o1"))))
    )
    assert state.charged
    with pytest.raises(AssertionError, match="expected actions"):
        workflow_spec(trip).given(Ordered("o1", T0)).when(Shipped("o1")).then()


def test_owing_a_waiting_compensation_again_after_the_failure_replaces_it() -> None:
    inst, _ = run(started(), ReachDeadline("ship_by", T0 + timedelta(days=2)))
    assert [s.key for s in inst.pending] == ["reserve", "charge", "unreserve"]
    again = replace(trip, react=lambda s, e: [Owe(Send("unreserve", Unreserve("o2")))])
    decider2 = instance_decider(again)
    events = list(decider2.decide(Settle("charge", T0, refusal="no"), inst))
    after = decider2.fold_events(events, inst)
    assert [(s.key, s.data) for s in after.pending] == [
        ("reserve", {"order_id": "o1"}),
        ("unreserve", {"order_id": "o2"}),
    ]
    done = decider2.fold_events(decider2.decide(Settle("unreserve", T0), after), after)
    once_more = list(decider2.decide(Settle("reserve", T0), done))
    assert decider2.fold_events(once_more, done).pending == ()  # run once: not owed again
