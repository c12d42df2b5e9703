"""Where the workflows' deadlines wait until they are due.

The index is derived data: the runner writes an instance's deadlines to it each time it
drives the instance (the instance stream is the truth), so an index lost or behind is
caught up by the next delivery of that instance's events.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol


class DeadlineIndex(Protocol):
    """The deadlines of every instance of every workflow, by due time."""

    def set(self, workflow: str, stream_id: str, deadlines: Mapping[str, datetime]) -> None:
        """Replace the instance's deadlines with ``deadlines`` (key -> due time)."""
        ...

    def due(self, workflow: str, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        """At most ``limit`` deadlines due at ``now``: (instance stream, key, due time),
        earliest first."""
        ...


class MemoryDeadlineIndex:
    """The DeadlineIndex port in a dict (tests, quick starts); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], dict[str, datetime]] = {}

    def set(self, workflow: str, stream_id: str, deadlines: Mapping[str, datetime]) -> None:
        with self._lock:
            if deadlines:
                self._rows[workflow, stream_id] = dict(deadlines)
            else:
                self._rows.pop((workflow, stream_id), None)

    def due(self, workflow: str, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        with self._lock:
            found = [
                (stream, key, at)
                for (name, stream), keys in self._rows.items()
                if name == workflow
                for key, at in keys.items()
                if at <= now
            ]
        return sorted(found, key=lambda row: (row[2], row[0], row[1]))[:limit]
