"""The workflow runner: a subscription target that drives the instances of one workflow.

Fed by the router with the events of the workflow's sources AND of its own instance streams
(subscribe to both categories: see :func:`WorkflowRunner.categories`), it works like this:

- a source event: ``Observe`` it on the instance it correlates to — the workflow's
  decision (its new state, the steps it plans, what it owes, its deadlines) is recorded in
  the instance stream in ONE append, under the command id ``<instance>/on/<event key>``
  (a redelivery or replay is a duplicate of that commit and decides nothing again);
- then, for any event of the instance (source or its own), run its pending steps one by one:

  - a :class:`~eventfold.domain.workflow.Send` runs the command through ``dispatch`` in
    the same session as the instance's ``Settle``, so the aggregate's events and the
    instance's progress commit in ONE append, under the command id ``<instance>/<step>``:
    a crash before it sends again (nothing was sent), after it finds the commit (nothing
    is sent twice). The aggregate's refusal (RuleViolated, InvalidCommand,
    StreamNotFound) is recorded as StepRefused;
  - a :class:`~eventfold.domain.workflow.Call` goes through the effects ledger (claim,
    perform with the idempotency key ``<workflow>/<instance>/<step>``, record the answer
    in the instance, settle): a crash after the call and before the answer is recorded
    calls again with the same key, which the other system deduplicates (the one window
    the effects ledger leaves, see :mod:`eventfold.core.reactions.reaction`).
    :class:`~eventfold.errors.CallRefused` (a business "no") is recorded as StepRefused;
    any other failure is raised: the router retries and, past its retry policy, parks the
    stream (``eventfold parked``; ``eventfold redrive`` runs the step again). A failing
    compensation therefore parks its instance instead of looping.

Deadlines: each time an instance is driven, its deadlines are written to the
:class:`DeadlineIndex`; :meth:`WorkflowRunner.fire_due` (a periodic job) records
``DeadlineReached`` for the due ones under the command id
``<instance>/deadline/<key>@<time>`` (once, however many sweepers), and the router then
delivers that event back here, where the workflow's reaction runs like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from eventfold.core.app.handler import CommandHandler, Session
from eventfold.core.app.origin import Origin, service_actor
from eventfold.core.reactions.reaction import EffectsLedger, idempotency_key
from eventfold.core.router.router import describe
from eventfold.core.workflows.deadlines import DeadlineIndex
from eventfold.domain.codecs import EventCodec, JsonCodec
from eventfold.domain.decider import entity_id_of
from eventfold.domain.events import RecordedEvent
from eventfold.domain.workflow import (
    INSTANCE_EVENTS,
    Instance,
    Observe,
    PlannedStep,
    ReachDeadline,
    Settle,
    StepCompleted,
    StepRefused,
    Workflow,
    instance_decider,
    payload_of,
)
from eventfold.errors import (
    CallRefused,
    DeliveryFailed,
    InvalidCommand,
    RuleViolated,
    StreamNotFound,
    UnknownEventType,
)

Dispatch = Callable[[Session, object], None]
"""Runs a command a workflow sends, inside the session that also records the step: decide
it on the aggregate stream(s) it addresses (the service's application function)."""

CallPerformer = Callable[[Any, str], Mapping[str, Any] | None]
"""Carries out one call: ``(request, idempotency_key) -> answer`` (plain JSON data, None for
nothing). Raises CallRefused for a business refusal, DeliveryFailed otherwise."""

Clock = Callable[[], datetime]

STEP_COMPLETED = INSTANCE_EVENTS.name_of(StepCompleted)
STEP_REFUSED = INSTANCE_EVENTS.name_of(StepRefused)

REFUSALS = (RuleViolated, InvalidCommand, StreamNotFound)
"""What an aggregate answers when it will not take a command, whatever the retries."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WorkflowCodec:
    """The service's codec plus the workflow's instance events (stored as JSON): one codec
    for the sessions that decide on aggregates and instances together."""

    def __init__(self, inner: EventCodec) -> None:
        self.inner = inner
        self.content_type = inner.content_type
        self.types = inner.types.including(INSTANCE_EVENTS)
        self._json = JsonCodec(INSTANCE_EVENTS)
        self._own = frozenset(t.cls for t in INSTANCE_EVENTS)

    def encode(self, event: object, metadata: Mapping[str, str] | None = None) -> Any:
        if type(event) in self._own:
            return self._json.encode(event, metadata)
        return self.inner.encode(event, metadata)

    def decode(self, event: RecordedEvent) -> object:
        if event.type in INSTANCE_EVENTS:
            return self._json.decode(event)
        return self.inner.decode(event)

    def to_json(self, event: RecordedEvent) -> dict[str, Any]:
        if event.type in INSTANCE_EVENTS:
            return self._json.to_json(event)
        return self.inner.to_json(event)


class WorkflowRunner:
    """Drives the instances of ``workflow`` (see the module doc). ``handler``'s codec must
    be a :class:`WorkflowCodec`; ``performers``: request class -> :data:`CallPerformer`."""

    def __init__(
        self,
        workflow: Workflow[Any],
        handler: CommandHandler,
        dispatch: Dispatch,
        performers: Mapping[type, CallPerformer],
        ledger: EffectsLedger,
        deadlines: DeadlineIndex,
        *,
        clock: Clock = _utc_now,
    ) -> None:
        if not isinstance(handler.codec, WorkflowCodec):
            raise TypeError("the runner's handler needs a WorkflowCodec")
        self.workflow = workflow
        self.name = workflow.category
        self.handler = handler
        self.decider = instance_decider(workflow)
        self.dispatch = dispatch
        self.performers = dict(performers)
        self.ledger = ledger
        self.deadlines = deadlines
        self.clock = clock
        self.actor = service_actor(f"workflow:{self.name}")

    def categories(self, *sources: str) -> frozenset[str]:
        """What the runner's subscription must deliver: the sources and its own streams."""
        return frozenset({*sources, self.name})

    # -- the target ----------------------------------------------------------------------------
    def apply(self, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            if event.category == self.name:
                self._settled(event)
                self.drive(entity_id_of(event.stream_id))
                continue
            if event.type not in self.handler.codec.types:
                raise UnknownEventType(event.type)
            decoded = self.handler.codec.decode(event)
            instance_id = self.workflow.correlate(decoded)
            if instance_id is None:
                continue
            stream = self.decider.stream_id(instance_id)
            self._record(Observe(decoded, event.key), stream, f"{stream}/on/{event.key}")
            self.drive(instance_id)

    def _settled(self, event: RecordedEvent) -> None:
        """A step's answer is recorded: mark its call done in the ledger, in case the
        runner stopped between recording it and settling the ledger (a no-op otherwise)."""
        if event.type in (STEP_COMPLETED, STEP_REFUSED):
            step = self.handler.codec.decode(event)
            if isinstance(step, StepCompleted | StepRefused):
                self.ledger.settle(self.name, [f"{event.stream_id}/{step.step}"])

    # -- reading -------------------------------------------------------------------------------
    def instance(self, instance_id: str) -> tuple[Instance, int]:
        """The instance as stored now (and its stream's version; 0: never started)."""
        session = Session(self.handler.store, self.handler.codec)
        return session.state(self.decider, self.decider.stream_id(instance_id))

    # -- driving -------------------------------------------------------------------------------
    def drive(self, instance_id: str) -> Instance:
        """Run the instance's pending steps, in order, until none is left; returns it."""
        stream = self.decider.stream_id(instance_id)
        while True:
            current, version = self.instance(instance_id)
            if version == 0:
                return current
            self.deadlines.set(self.name, stream, current.deadlines)
            if not current.pending:
                return current
            step = current.pending[0]
            if step.kind == "send":
                self._send(stream, step)
            else:
                self._call(stream, step)

    def _record(self, command: Any, stream: str, command_id: str) -> None:
        origin = Origin(self.actor, command_id=command_id, correlation_id=stream)
        self.handler.execute(self.decider, stream, command, origin)

    def _send(self, stream: str, step: PlannedStep) -> None:
        command = payload_of(self.workflow, step)
        command_id = f"{stream}/{step.key}"

        def work(session: Session) -> None:
            self.dispatch(session, command)
            session.execute(self.decider, stream, Settle(step.key, self.clock()))

        try:
            origin = Origin(self.actor, command_id=command_id, correlation_id=stream)
            self.handler.run(work, origin)
        except REFUSALS as refused:
            settle = Settle(step.key, self.clock(), refusal=str(refused))
            self._record(settle, stream, f"{command_id}/refused")

    def _call(self, stream: str, step: PlannedStep) -> None:
        request = payload_of(self.workflow, step)
        perform = self.performers.get(type(request))
        if perform is None:
            raise DeliveryFailed(
                f"workflow {self.name}: no performer for {step.payload} calls; pass one in "
                "performers",
                retryable=False,
            )
        key = f"{stream}/{step.key}"
        if self.ledger.claim(self.name, [key]):
            # Done in the ledger means the answer was recorded first: the read lags.
            raise DeliveryFailed(f"workflow {self.name}: {key} is done but not yet visible")
        try:
            answer = perform(request, idempotency_key(self.name, key))
        except CallRefused as refused:
            settle = Settle(step.key, self.clock(), refusal=str(refused))
        except Exception as failed:
            with suppress(Exception):  # the call's own failure is what the router must see
                self.ledger.settle(self.name, [], {key: describe(failed)})
            raise
        else:
            settle = Settle(step.key, self.clock(), result=dict(answer or {}))
        self._record(settle, stream, key)
        self.ledger.settle(self.name, [key])

    # -- deadlines -----------------------------------------------------------------------------
    def fire_due(self, now: datetime | None = None, limit: int = 500) -> list[str]:
        """Record DeadlineReached for every due deadline (the periodic job); returns the
        instance streams where one was reached."""
        moment = now or self.clock()
        reached = []
        for stream, key, at in self.deadlines.due(self.name, moment, limit):
            command_id = f"{stream}/deadline/{key}@{at.isoformat()}"
            instance_id = entity_id_of(stream)
            self._record(ReachDeadline(key, moment), stream, command_id)
            current, _ = self.instance(instance_id)
            self.deadlines.set(self.name, stream, current.deadlines)
            reached.append(stream)
        return reached
