"""The Decider: a domain is plain data and three pure functions.

``decide(command, state) -> events`` says what happens, ``evolve(state, event) -> state``
says what it means, ``initial_state`` is the state of a stream with no events. Runners (the
command handler, the test helpers) are written once, outside the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Generic, TypeVar

C = TypeVar("C")
S = TypeVar("S")
E = TypeVar("E")

Evolve = Callable[[S, E], S]
Decide = Callable[[C, S], Sequence[E]]


@dataclass(frozen=True, slots=True)
class Decider(Generic[C, S, E]):
    """One aggregate type.

    ``category`` prefixes its stream ids (``reservation-<id>``) and is what subscriptions
    filter on. ``fold`` names the version of ``evolve``: snapshots written under another
    fold are ignored and the stream is replayed, so bump it whenever ``evolve`` changes
    what a stored event means for the state.
    """

    category: str
    initial_state: S
    evolve: Evolve[S, E]
    decide: Decide[C, S, E]
    fold: str = "1"
    fold_id: str = field(init=False, repr=False, compare=False)
    """``category/fold``: what the state snapshots this decider writes are tagged with."""

    def __post_init__(self) -> None:
        if not self.category or "-" in self.category:
            raise ValueError("a decider's category must be non-empty and contain no '-'")
        object.__setattr__(self, "fold_id", f"{self.category}/{self.fold}")

    def stream_id(self, entity_id: str) -> str:
        return f"{self.category}-{entity_id}"

    def fold_events(self, events: Iterable[E], state: S | None = None) -> S:
        start = self.initial_state if state is None else state
        return reduce(self.evolve, events, start)


def category_of(stream_id: str) -> str:
    """The category of a stream id: everything before the first '-'."""
    return stream_id.split("-", 1)[0]


def entity_id_of(stream_id: str) -> str:
    """The entity part of a stream id: everything after the first '-'."""
    return stream_id.split("-", 1)[1] if "-" in stream_id else ""
