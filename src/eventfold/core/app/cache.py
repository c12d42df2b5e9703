"""A bounded, thread-safe cache of the states a command handler committed.

Loading a stream costs a read and a decode; a process that just wrote a stream knows its
state already. The cache is only ever a guess: a stale entry makes the append conflict (the
stream moved on), and the handler then reloads. Decisions that write nothing (a refusal, a
no-op) are never trusted to a cached state: the handler decides them again on fresh state.
States are values (frozen dataclasses), so sharing them between threads is safe. When full,
the entry written longest ago goes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

DEFAULT_CAPACITY = 10_000


class StateCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[str, int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stream_id: str, fold_id: str) -> tuple[int, Any] | None:
        """The cached (version, state) of the stream if it was folded by ``fold_id``."""
        # One dict read is atomic: no lock. Entries age by their last write, not their
        # last read, so a read changes nothing.
        entry = self._entries.get(stream_id)
        if entry is None or entry[0] != fold_id:
            return None
        return entry[1], entry[2]

    def put(self, stream_id: str, fold_id: str, version: int, state: Any) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            known = self._entries.get(stream_id)
            if known is not None and known[1] > version:
                return  # a concurrent writer already cached a newer state
            self._entries[stream_id] = (fold_id, version, state)
            self._entries.move_to_end(stream_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def forget(self, *stream_ids: str) -> None:
        with self._lock:
            for stream_id in stream_ids:
                self._entries.pop(stream_id, None)
