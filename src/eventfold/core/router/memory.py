"""The router's state kept in memory: for tests and in-process tools (lost when the process
ends)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from eventfold.core.router.ports import BEGINNING, ParkedStream
from eventfold.domain.events import RecordedEvent


class MemoryRouterState:
    """The ``Checkpoints``, ``AppliedVersions`` and ``ParkingLot`` ports in dicts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checkpoints: dict[str, str] = {}
        self._versions: dict[tuple[str, str], int] = {}
        self._parked: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._waiting: dict[tuple[str, str], dict[int, RecordedEvent]] = {}

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, subscription: str) -> str:
        return self._checkpoints.get(subscription, BEGINNING)

    def advance(self, subscription: str, expected: str, checkpoint: str) -> bool:
        with self._lock:
            if self._checkpoints.get(subscription, BEGINNING) != expected:
                return False
            self._checkpoints[subscription] = checkpoint
            return True

    def reset(self, subscription: str, checkpoint: str) -> None:
        with self._lock:
            self._checkpoints[subscription] = checkpoint

    # -- applied versions ------------------------------------------------------------------
    def applied_versions(self, subscription: str, stream_ids: Collection[str]) -> dict[str, int]:
        found = {s: self._versions.get((subscription, s)) for s in stream_ids}
        return {s: v for s, v in found.items() if v is not None}

    def record_applied(self, subscription: str, versions: Mapping[str, int]) -> None:
        with self._lock:
            for stream_id, version in versions.items():
                key = (subscription, stream_id)
                self._versions[key] = max(version, self._versions.get(key, 0))

    # -- parking lot -----------------------------------------------------------------------
    def park(
        self, subscription: str, stream_id: str, events: Sequence[RecordedEvent], reason: str
    ) -> None:
        with self._lock:
            key = (subscription, stream_id)
            self._parked.setdefault(key, (reason, datetime.now(UTC)))
            waiting = self._waiting.setdefault(key, {})
            for event in events:
                waiting.setdefault(event.version, event)

    # The readers below iterate dicts that park/unpark change: they hold the lock too.
    def parked_streams(self, subscription: str) -> set[str]:
        with self._lock:
            return {s for (sub, s) in self._parked if sub == subscription}

    def list_parked(self, subscription: str | None = None) -> list[ParkedStream]:
        found = []
        with self._lock:
            for (sub, stream_id), (reason, at) in self._parked.items():
                if subscription is not None and sub != subscription:
                    continue
                versions = sorted(self._waiting.get((sub, stream_id), {}))
                first, last = (versions[0], versions[-1]) if versions else (0, 0)
                found.append(ParkedStream(sub, stream_id, reason, at, first, last, len(versions)))
        return sorted(found, key=lambda p: (p.parked_at, p.stream_id))

    def parked_events(self, subscription: str, stream_id: str) -> list[RecordedEvent]:
        with self._lock:
            waiting = self._waiting.get((subscription, stream_id), {})
            return [waiting[v] for v in sorted(waiting)]

    def unpark(self, subscription: str, stream_id: str, through_version: int) -> bool:
        with self._lock:
            key = (subscription, stream_id)
            waiting = self._waiting.get(key, {})
            for version in [v for v in waiting if v <= through_version]:
                del waiting[version]
            if waiting:
                return False
            self._waiting.pop(key, None)
            self._parked.pop(key, None)
            return True
