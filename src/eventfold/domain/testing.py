"""Given / when / then helpers for deciders, shipped with the library.

spec(reservation).given(ReservationAccepted(...)).when(SecureStock(...)).then(StockSecured(...))
spec(reservation).given().when(SecureStock(...)).raises(RuleViolated, "not accepted")
workflow_spec(partner_hold).given(accepted).when(refused).then(Owe(...), Fail(...), ...)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Generic, TypeVar

from eventfold.domain.decider import Decider
from eventfold.domain.workflow import Action, Workflow

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E")


@dataclass
class DeciderSpec(Generic[C, S, E]):
    decider: Decider[C, S, E]
    history: list[E] = field(default_factory=list)
    command: C | None = None

    def given(self, *events: E) -> DeciderSpec[C, S, E]:
        return DeciderSpec(self.decider, [*self.history, *events])

    def when(self, command: C) -> DeciderSpec[C, S, E]:
        return DeciderSpec(self.decider, self.history, command)

    @property
    def state(self) -> S:
        return self.decider.fold_events(self.history)

    def _decide(self) -> Sequence[E]:
        if self.command is None:
            raise AssertionError("call .when(command) before .then(...)")
        return self.decider.decide(self.command, self.state)

    def then(self, *expected: E) -> S:
        """Assert the command produces exactly ``expected``; returns the state after them."""
        produced = list(self._decide())
        if produced != list(expected):
            raise AssertionError(
                f"expected events {list(expected)!r}\n     got events {produced!r}"
            )
        return self.decider.fold_events(produced, self.state)

    def raises(self, error: type[BaseException], match: str = "") -> BaseException:
        """Assert the command is refused with ``error`` whose message matches ``match``."""
        try:
            produced = self._decide()
        except error as exc:
            if match and not re.search(match, str(exc)):
                message = f"{error.__name__} {str(exc)!r} does not match {match!r}"
                raise AssertionError(message) from exc
            return exc
        raise AssertionError(f"expected {error.__name__}, got events {list(produced)!r}")


def spec(decider: Decider[C, S, E]) -> DeciderSpec[C, S, E]:
    return DeciderSpec(decider)


@dataclass
class WorkflowSpec(Generic[S]):
    """Given / when / then for a workflow's pure part: the events it saw (``given``), one
    more (``when``), and the actions its ``react`` returns for it (``then``)::

        workflow_spec(partner_hold).given(accepted).when(refused).then(Owe(...), Fail(...))
    """

    workflow: Workflow[S]
    history: list[object] = field(default_factory=list)
    event: object | None = None

    def given(self, *events: object) -> WorkflowSpec[S]:
        return WorkflowSpec(self.workflow, [*self.history, *events])

    def when(self, event: object) -> WorkflowSpec[S]:
        return WorkflowSpec(self.workflow, self.history, event)

    @property
    def state(self) -> S:
        return reduce(self.workflow.evolve, self.history, self.workflow.initial_state)

    def then(self, *expected: Action) -> S:
        """Assert ``react`` answers the event with exactly ``expected``; returns the state
        after the event."""
        if self.event is None:
            raise AssertionError("call .when(event) before .then(...)")
        after = self.workflow.evolve(self.state, self.event)
        produced = list(self.workflow.react(after, self.event))
        if produced != list(expected):
            raise AssertionError(
                f"expected actions {list(expected)!r}\n     got actions {produced!r}"
            )
        return after


def workflow_spec(workflow: Workflow[S]) -> WorkflowSpec[S]:
    return WorkflowSpec(workflow)
