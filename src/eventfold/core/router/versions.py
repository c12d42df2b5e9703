"""How a router knows each stream's last applied version: chosen once, per target.

- :class:`KeptByRouter`: the target keeps no versions, so the router records them in
  :class:`AppliedVersions` (cached; written once per batch).
- :class:`KeptByTarget`: the target commits them with its effects (:class:`TracksVersions`);
  the router asks it, and :class:`AppliedVersions` holds only what operators skipped.
- :class:`PlannedByTarget`: as :class:`KeptByTarget`, for a target that also lets the router
  plan a batch inside its transaction (:class:`PlansInTransaction`).

The router tells its keeping what happened (:meth:`VersionKeeping.applied`,
:meth:`~VersionKeeping.passed_over`, :meth:`~VersionKeeping.skip`) and asks it for the last
versions; it never asks which keeping it has, except to plan inside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from eventfold.core.router.ports import (
    AppliedVersions,
    Plan,
    PlansInTransaction,
    Target,
    TracksVersions,
)
from eventfold.domain.events import RecordedEvent

CACHE_LIMIT = 200_000
"""Streams remembered in memory per router before the cache starts over."""


class VersionKeeping(Protocol):
    """One subscription's last applied versions, as one router sees them."""

    def last_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        """The last applied version of each stream (absent or 0: none)."""
        ...

    def applied(self, events: Sequence[RecordedEvent]) -> None:
        """The target applied these events."""
        ...

    def passed_over(self, stream_id: str, version: int) -> None:
        """The stream is done through ``version`` although the target did not see its last
        events (the subscription's filter left them out)."""
        ...

    def skip(self, stream_id: str, through_version: int) -> None:
        """An operator gave up on the stream's events through ``through_version``: record
        them as handled (durably) without the target ever seeing them."""
        ...

    def flush(self) -> None:
        """Write what is still only in memory (the end of a batch, or before parking)."""
        ...

    def forget(self, stream_id: str) -> None:
        """Drop what is cached for the stream (it parks, or an operator works on it)."""
        ...

    def forget_all(self) -> None:
        """Drop every cached version (someone else moved the checkpoint)."""
        ...


def keep_versions(
    subscription: str, target: Target, versions: AppliedVersions
) -> KeptByRouter | KeptByTarget:
    """The keeping ``target`` needs: its own versions if it tracks them, else the router's."""
    if not isinstance(target, TracksVersions):
        return KeptByRouter(subscription, versions)
    if isinstance(target, PlansInTransaction):
        return PlannedByTarget(subscription, versions, target, target)
    return KeptByTarget(subscription, versions, target)


class KeptByRouter:
    """Versions recorded by the router in :class:`AppliedVersions` (the truth), read once per
    stream into a cache and written back once per batch."""

    def __init__(self, subscription: str, versions: AppliedVersions) -> None:
        self.subscription = subscription
        self.versions = versions
        self._last: dict[str, int] = {}  # the last applied version; recorded or in _unrecorded
        self._unrecorded: dict[str, int] = {}

    def last_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        wanted = list(stream_ids)
        unknown = [s for s in wanted if s not in self._last]
        if unknown:
            if len(self._last) > CACHE_LIMIT:
                self._last.clear()
                unknown = wanted
            loaded = self.versions.applied_versions(self.subscription, unknown)
            for stream_id in unknown:
                self._last[stream_id] = loaded.get(stream_id, 0)
        return {s: self._last[s] for s in wanted}

    def applied(self, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            self.passed_over(event.stream_id, event.version)

    def passed_over(self, stream_id: str, version: int) -> None:
        if version > self._last.get(stream_id, 0):
            self._last[stream_id] = version
            self._unrecorded[stream_id] = version

    def skip(self, stream_id: str, through_version: int) -> None:
        self.versions.record_applied(self.subscription, {stream_id: through_version})
        self.forget(stream_id)

    def flush(self) -> None:
        if self._unrecorded:
            self.versions.record_applied(self.subscription, self._unrecorded)
            self._unrecorded = {}

    def forget(self, stream_id: str) -> None:
        self._last.pop(stream_id, None)

    def forget_all(self) -> None:
        self._last.clear()


class KeptByTarget:
    """Versions kept by the target, in the transaction of its effects. The router adds what
    operators skipped (recorded in :class:`AppliedVersions`) and, in memory only, how far
    events the filter left out moved a stream (lost on restart: those events are then read
    back as a healed gap and left out again)."""

    def __init__(
        self, subscription: str, versions: AppliedVersions, target: TracksVersions
    ) -> None:
        self.subscription = subscription
        self.versions = versions
        self.target = target
        self._passed_over: dict[str, int] = {}

    def last_versions(self, stream_ids: Collection[str]) -> dict[str, int]:
        wanted = list(stream_ids)
        if not wanted:
            return {}
        with_skips = self.with_skips(wanted)
        return with_skips(self.target.applied_versions(wanted))

    def with_skips(
        self, stream_ids: Collection[str]
    ) -> Callable[[Mapping[str, int]], dict[str, int]]:
        """Reads the operators' skips of ``stream_ids`` now; returns what turns the target's
        versions into the last versions: the larger of those, the skips and how far filtered
        events moved each stream."""
        skipped = self.versions.applied_versions(self.subscription, stream_ids)

        def merge(applied: Mapping[str, int]) -> dict[str, int]:
            lasts = dict(skipped)
            for stream_id, version in applied.items():
                lasts[stream_id] = max(version, lasts.get(stream_id, 0))
            for stream_id in stream_ids:
                passed = self._passed_over.get(stream_id, 0)
                if passed > lasts.get(stream_id, 0):
                    lasts[stream_id] = passed
            return lasts

        return merge

    def applied(self, events: Sequence[RecordedEvent]) -> None:
        """Nothing to do: the target committed the versions with the effects."""

    def passed_over(self, stream_id: str, version: int) -> None:
        if len(self._passed_over) > CACHE_LIMIT:
            self._passed_over.clear()
        if version > self._passed_over.get(stream_id, 0):
            self._passed_over[stream_id] = version

    def skip(self, stream_id: str, through_version: int) -> None:
        self.versions.record_applied(self.subscription, {stream_id: through_version})
        self.forget(stream_id)

    def flush(self) -> None:
        """Nothing to do: nothing the target does not keep is worth a write."""

    def forget(self, stream_id: str) -> None:
        self._passed_over.pop(stream_id, None)

    def forget_all(self) -> None:
        self._passed_over.clear()


class PlannedByTarget(KeptByTarget):
    """Versions kept by a target that plans each batch in its own transaction: its versions
    are read once per batch, by the transaction that then writes them."""

    def __init__(
        self,
        subscription: str,
        versions: AppliedVersions,
        target: TracksVersions,
        planner: PlansInTransaction,
    ) -> None:
        """``target`` and ``planner`` are the same object, seen as each protocol."""
        super().__init__(subscription, versions, target)
        self.planner = planner

    def apply_planned(self, stream_ids: Collection[str], plan: Plan) -> None:
        """In the target's transaction: the last versions (skips read first, outside it) ->
        ``plan`` -> the events applied. See :meth:`PlansInTransaction.apply_planned`."""
        wanted = list(stream_ids)
        with_skips = self.with_skips(wanted)
        self.planner.apply_planned(wanted, lambda applied: plan(with_skips(applied)))
