"""The Target contract: every target adapter passes these tests.

An adapter's test class subclasses :class:`TargetContract` and provides two fixtures:
``target`` (handles the :class:`Tick` events of :data:`CODEC`) and ``observed`` (a function
returning, per stream, the versions whose EFFECT happened, in the order they happened —
rows written, webhooks received, e-mails delivered). The router's promises (see
``eventfold.router.Target``) are what the batches here look like: each stream's versions
consecutive and ascending, streams interleaved, and after a failure the same events may
come again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from eventfold import EventTypes, JsonCodec, RecordedEvent
from eventfold.router import Target


@dataclass(frozen=True)
class Tick:
    """The contract's event: stream ``tick-<id>`` ticked ``n``."""

    n: int


@dataclass(frozen=True)
class Unhandled:
    """A registered event type the contract's targets have no handler for."""

    note: str


TYPES = EventTypes()
TYPES.register(Tick)
TYPES.register(Unhandled)
CODEC = JsonCodec(TYPES)

Observed = Callable[[], dict[str, list[int]]]


RECORDED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def recorded(stream: str, version: int, event: object) -> RecordedEvent:
    """``event`` encoded with :data:`CODEC` as version ``version`` of ``stream``. The same
    stream and version give the same event each time (a redelivery is byte for byte the
    event delivered before, recorded_at included)."""
    data = CODEC.encode(event)
    at = RECORDED_AT + timedelta(seconds=version)
    return RecordedEvent(stream, version, data.type, data.data, data.schema, {}, at, None)


def tick(stream: str, version: int) -> RecordedEvent:
    return recorded(stream, version, Tick(version))


def ticks(stream: str, first: int, last: int) -> list[RecordedEvent]:
    return [tick(stream, v) for v in range(first, last + 1)]


def interleave(*streams: Sequence[RecordedEvent]) -> list[RecordedEvent]:
    out: list[RecordedEvent] = []
    for i in range(max(len(s) for s in streams)):
        out.extend(s[i] for s in streams if i < len(s))
    return out


class TargetContract:
    @pytest.fixture
    def target(self) -> Target:
        raise NotImplementedError("an adapter's test class provides the target fixture")

    @pytest.fixture
    def observed(self) -> Observed:
        raise NotImplementedError("an adapter's test class provides the observed fixture")

    def test_has_a_name(self, target: Target) -> None:
        assert isinstance(target.name, str)
        assert target.name

    def test_applies_every_event_in_stream_order(self, target: Target, observed: Observed) -> None:
        target.apply(interleave(ticks("tick-a", 1, 3), ticks("tick-b", 1, 2)))
        assert observed() == {"tick-a": [1, 2, 3], "tick-b": [1, 2]}

    def test_later_batches_continue_the_streams(self, target: Target, observed: Observed) -> None:
        target.apply(ticks("tick-a", 1, 2))
        target.apply(interleave(ticks("tick-a", 3, 4), ticks("tick-b", 1, 1)))
        assert observed() == {"tick-a": [1, 2, 3, 4], "tick-b": [1]}

    def test_a_redelivered_batch_has_no_further_effect(
        self, target: Target, observed: Observed
    ) -> None:
        batch = interleave(ticks("tick-a", 1, 2), ticks("tick-b", 1, 2))
        target.apply(batch)
        target.apply(batch)
        assert observed() == {"tick-a": [1, 2], "tick-b": [1, 2]}

    def test_an_overlapping_redelivery_applies_only_what_is_new(
        self, target: Target, observed: Observed
    ) -> None:
        target.apply(ticks("tick-a", 1, 2))
        target.apply(ticks("tick-a", 1, 4))  # after a failure the router sends it all again
        assert observed() == {"tick-a": [1, 2, 3, 4]}

    def test_an_empty_batch_does_nothing(self, target: Target, observed: Observed) -> None:
        target.apply([])
        assert observed() == {}

    def test_events_without_a_handler_only_pass_by(
        self, target: Target, observed: Observed
    ) -> None:
        skipped = recorded("tick-a", 2, Unhandled("ignored"))
        target.apply([tick("tick-a", 1), skipped, tick("tick-a", 3)])
        assert observed() == {"tick-a": [1, 3]}
