"""Workflows (process managers, sagas) defined like deciders: plain data and pure functions.

A :class:`Workflow` says which events start an instance (``starts``) and which instance an
event belongs to (``correlate``), folds what it saw into its state (``evolve``) and answers
each event with actions (``react(state, event)``, ``state`` already evolved by ``event``):

- :class:`Send` a command to an aggregate; :class:`Call` another system (an effect);
- :class:`SetDeadline` / :class:`ClearDeadline`: a :class:`DeadlineReached` event later;
- :class:`Owe` a compensation (a Send or a Call undoing a step that succeeded), and
  :class:`Forgive` it once nothing needs undoing any more;
- :class:`Fail`: a step failed for good; the compensations owed run in reverse order;
- :class:`Finish`: the workflow is done (what is owed is forgiven).

Besides the events of its sources, ``evolve`` and ``react`` see how the workflow's own steps
ended: :class:`StepCompleted` (with what the call answered) and :class:`StepRefused` (the
aggregate or the other system said no, for good), and :class:`DeadlineReached`.

The runner (:mod:`eventfold.core.workflows`) is written once. It keeps each instance as a
stream of the events below in the event store, decided by :func:`instance_decider` (pure,
like every decider): what an instance saw, the steps it still has to run (``pending``, run
one at a time, in order), the compensations it owes, its deadlines and its status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from eventfold.domain.codecs import from_plain, to_plain
from eventfold.domain.decider import Decider
from eventfold.domain.events import EventTypes

S = TypeVar("S")

Plain = dict[str, Any]


# -- actions: what react returns -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    """Send ``command`` to an aggregate. ``key`` names the step in its instance (unique):
    the command id is ``<instance stream>/<key>``, so it is sent once however often the
    runner is replayed."""

    key: str
    command: object


@dataclass(frozen=True, slots=True)
class Call:
    """Ask another system for ``request`` (through the effects ledger, with the idempotency
    key ``<workflow>/<instance stream>/<key>``); its answer comes back as StepCompleted."""

    key: str
    request: object


@dataclass(frozen=True, slots=True)
class SetDeadline:
    key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ClearDeadline:
    key: str


@dataclass(frozen=True, slots=True)
class Owe:
    """From now on, ``action`` undoes something that succeeded. Owing a key again replaces
    the action in its place (after a failure too, while it has not run; once run, owing it
    again changes nothing); newly owed after a failure, it runs before every compensation
    still waiting (it undoes a later step)."""

    action: Send | Call


@dataclass(frozen=True, slots=True)
class Forgive:
    key: str


@dataclass(frozen=True, slots=True)
class Fail:
    reason: str


@dataclass(frozen=True, slots=True)
class Finish:
    outcome: str


Action = Send | Call | SetDeadline | ClearDeadline | Owe | Forgive | Fail | Finish


# -- what the runner tells the workflow (also stored in the instance stream) --------------------
@dataclass(frozen=True, slots=True)
class StepCompleted:
    step: str
    result: Plain
    at: datetime
    compensation: bool = False


@dataclass(frozen=True, slots=True)
class StepRefused:
    step: str
    reason: str
    at: datetime
    compensation: bool = False


@dataclass(frozen=True, slots=True)
class DeadlineReached:
    key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Workflow(Generic[S]):
    """One kind of workflow. ``category`` names its instance streams (``<category>-<id>``);
    ``payloads`` are the classes of the commands and requests it sends (stored by class
    name while a step waits to run)."""

    category: str
    initial_state: S
    starts: Callable[[object], bool]
    correlate: Callable[[object], str | None]
    evolve: Callable[[S, object], S]
    react: Callable[[S, object], Sequence[Action]]
    payloads: tuple[type, ...] = ()

    def payload_class(self, name: str) -> type:
        for cls in self.payloads:
            if cls.__name__ == name:
                return cls
        raise ValueError(f"workflow {self.category}: {name} is not one of its payloads")


# -- an instance, as its stream records it ------------------------------------------------------
class Status(StrEnum):
    NEW = "new"
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A Send (``kind`` "send") or Call ("call") waiting to run; ``payload`` is the class
    name of the command or request, ``data`` its fields."""

    key: str
    kind: str
    payload: str
    data: Plain
    compensation: bool = False


@dataclass(frozen=True, slots=True)
class Instance:
    instance_id: str = ""
    status: Status = Status.NEW
    state: Plain = field(default_factory=dict)
    pending: tuple[PlannedStep, ...] = ()
    owed: tuple[PlannedStep, ...] = ()
    deadlines: dict[str, datetime] = field(default_factory=dict)
    outcome: str = ""
    steps_run: tuple[str, ...] = ()

    @property
    def ended(self) -> bool:
        return self.status in (Status.COMPLETED, Status.COMPENSATED) and not self.pending


@dataclass(frozen=True, slots=True)
class WorkflowStarted:
    instance_id: str
    cause: str


@dataclass(frozen=True, slots=True)
class EventObserved:
    source: str
    type: str


@dataclass(frozen=True, slots=True)
class WorkflowAdvanced:
    """What the instance is after one decision (the whole of it: replaying the stream does
    not need the source events)."""

    status: Status
    state: Plain
    pending: tuple[PlannedStep, ...]
    owed: tuple[PlannedStep, ...]
    deadlines: dict[str, datetime]
    outcome: str
    steps_run: tuple[str, ...]


INSTANCE_EVENTS = EventTypes()
for _cls in (
    WorkflowStarted,
    EventObserved,
    StepCompleted,
    StepRefused,
    DeadlineReached,
    WorkflowAdvanced,
):
    INSTANCE_EVENTS.register(_cls, name=f"Workflow{_cls.__name__.removeprefix('Workflow')}")


# -- commands of the instance decider (sent by the runner) ------------------------------------
@dataclass(frozen=True, slots=True)
class Observe:
    event: object
    source: str


@dataclass(frozen=True, slots=True)
class Settle:
    """How a pending step ended: ``refusal`` None is success with ``result``."""

    step: str
    at: datetime
    result: Mapping[str, Any] = field(default_factory=dict)
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class ReachDeadline:
    key: str
    at: datetime


InstanceCommand = Observe | Settle | ReachDeadline


def planned(action: Send | Call, compensation: bool = False) -> PlannedStep:
    if isinstance(action, Send):
        kind, payload = "send", action.command
    else:
        kind, payload = "call", action.request
    return PlannedStep(action.key, kind, type(payload).__name__, to_plain(payload), compensation)


def payload_of(workflow: Workflow[Any], step: PlannedStep) -> object:
    """The command or request a planned step carries."""
    return from_plain(workflow.payload_class(step.payload), step.data)


def _advance(inst: Instance, actions: Sequence[Action], state: Plain) -> WorkflowAdvanced:
    status, outcome = inst.status, inst.outcome
    pending, owed = list(inst.pending), list(inst.owed)
    deadlines = dict(inst.deadlines)
    taken = {*inst.steps_run, *(s.key for s in pending), *(s.key for s in owed)}

    def unique(key: str, replacing: bool = False) -> None:
        if key in taken and not replacing:
            raise ValueError(f"step key {key!r} is used twice in one instance")
        taken.add(key)

    for action in actions:
        match action:
            case Send() | Call():
                unique(action.key)
                pending.append(planned(action))
            case SetDeadline() if status is Status.RUNNING:
                deadlines[action.key] = action.at
            case ClearDeadline():
                deadlines.pop(action.key, None)
            case Owe() if status is Status.RUNNING:
                step = planned(action.action, compensation=True)
                at = next((i for i, s in enumerate(owed) if s.key == step.key), None)
                unique(step.key, replacing=at is not None)
                if at is None:
                    owed.append(step)
                else:
                    owed[at] = step
            case Owe() if status is Status.COMPENSATING:
                step = planned(action.action, compensation=True)
                waiting = next((i for i, s in enumerate(pending) if s.key == step.key), None)
                if waiting is not None and pending[waiting].compensation:
                    pending[waiting] = step  # not run yet: owed anew, in its place
                elif step.key not in inst.steps_run:  # run already: nothing more is owed
                    unique(step.key)
                    first = next((i for i, s in enumerate(pending) if s.compensation), None)
                    pending.insert(len(pending) if first is None else first, step)
            case Forgive():
                owed = [s for s in owed if s.key != action.key]
            case Fail() if status is Status.RUNNING:
                status, outcome = Status.COMPENSATING, action.reason
                pending.extend(reversed(owed))
                owed, deadlines = [], {}
            case Finish() if status is Status.RUNNING:
                status, outcome = Status.COMPLETED, action.outcome
                owed, deadlines = [], {}
    if status is Status.COMPENSATING and not pending:
        status = Status.COMPENSATED
    return WorkflowAdvanced(
        status, state, tuple(pending), tuple(owed), deadlines, outcome, inst.steps_run
    )


def instance_decider(
    workflow: Workflow[S],
) -> Decider[InstanceCommand, Instance, object]:
    """The decider of ``workflow``'s instance streams."""
    state_type = type(workflow.initial_state)

    def state_of(inst: Instance) -> S:
        if not inst.state:
            return workflow.initial_state
        decoded: S = from_plain(state_type, inst.state)
        return decoded

    def react(inst: Instance, event: object) -> WorkflowAdvanced:
        state = workflow.evolve(state_of(inst), event)
        return _advance(inst, workflow.react(state, event), to_plain(state))

    def decide(command: InstanceCommand, inst: Instance) -> Sequence[object]:
        match command:
            case Observe() if inst.status is Status.NEW:
                if not workflow.starts(command.event):
                    return []
                iid = workflow.correlate(command.event) or ""
                running = replace(inst, instance_id=iid, status=Status.RUNNING)
                return [
                    WorkflowStarted(iid, command.source),
                    EventObserved(command.source, type(command.event).__name__),
                    react(running, command.event),
                ]
            case Observe() if inst.status is Status.RUNNING:
                observed = EventObserved(command.source, type(command.event).__name__)
                return [observed, react(inst, command.event)]
            case Observe():
                return []
            case Settle():
                step = next((s for s in inst.pending if s.key == command.step), None)
                if step is None:
                    return []  # settled already: a retry
                rest = replace(
                    inst,
                    pending=tuple(s for s in inst.pending if s.key != step.key),
                    steps_run=(*inst.steps_run, step.key),
                )
                outcome: StepCompleted | StepRefused
                if command.refusal is None:
                    result = dict(command.result)
                    outcome = StepCompleted(step.key, result, command.at, step.compensation)
                else:
                    outcome = StepRefused(step.key, command.refusal, command.at, step.compensation)
                if step.compensation:  # the workflow does not react to its compensations
                    return [outcome, _advance(rest, [], rest.state)]
                return [outcome, react(rest, outcome)]
            case ReachDeadline():
                due = inst.deadlines.get(command.key)
                if inst.status is not Status.RUNNING or due is None or due > command.at:
                    return []
                reached = DeadlineReached(command.key, command.at)
                rest = replace(
                    inst, deadlines={k: v for k, v in inst.deadlines.items() if k != command.key}
                )
                return [reached, react(rest, reached)]

    def evolve(inst: Instance, event: object) -> Instance:
        match event:
            case WorkflowStarted():
                return replace(inst, instance_id=event.instance_id, status=Status.RUNNING)
            case WorkflowAdvanced():
                return replace(
                    inst,
                    status=event.status,
                    state=event.state,
                    pending=event.pending,
                    owed=event.owed,
                    deadlines=event.deadlines,
                    outcome=event.outcome,
                    steps_run=event.steps_run,
                )
            case StepCompleted() | StepRefused():
                return replace(
                    inst,
                    pending=tuple(s for s in inst.pending if s.key != event.step),
                    steps_run=(*inst.steps_run, event.step),
                )
            case _:
                return inst

    return Decider(
        category=workflow.category,
        initial_state=Instance(),
        evolve=evolve,
        decide=decide,
    )
