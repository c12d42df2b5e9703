"""A tiny decider the foundation tests share: a counter that refuses to go above a limit."""

from __future__ import annotations

from dataclasses import dataclass

from eventfold import Decider, EventTypes, JsonCodec, RuleViolated


@dataclass(frozen=True)
class Add:
    amount: int


@dataclass(frozen=True)
class Added:
    amount: int


@dataclass(frozen=True)
class Reset:
    """Set the total back to zero (a no-op when it is zero already)."""


@dataclass(frozen=True)
class WasReset:
    pass


@dataclass(frozen=True)
class Counter:
    total: int = 0
    limit: int = 100


def decide(command: Add | Reset, state: Counter) -> list[Added | WasReset]:
    if isinstance(command, Reset):
        return [WasReset()] if state.total else []
    if command.amount < 1:
        raise RuleViolated("amount must be at least 1")
    if state.total + command.amount > state.limit:
        raise RuleViolated(f"the counter would pass its limit of {state.limit}")
    return [Added(command.amount)]


def evolve(state: Counter, event: Added | WasReset) -> Counter:
    if isinstance(event, WasReset):
        return Counter(0, state.limit)
    return Counter(state.total + event.amount, state.limit)


counter = Decider("counter", Counter(), evolve, decide)
EVENT_TYPES = EventTypes()
EVENT_TYPES.register(Added)
EVENT_TYPES.register(WasReset)
codec = JsonCodec(EVENT_TYPES)
