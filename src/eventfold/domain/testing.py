"""Given / when / then helpers for deciders, shipped with the library.

spec(reservation).given(ReservationAccepted(...)).when(SecureStock(...)).then(StockSecured(...))
spec(reservation).given().when(SecureStock(...)).raises(RuleViolated, "not accepted")
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from eventfold.domain.decider import Decider

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
